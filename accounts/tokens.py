"""Issuing, rotating and revoking JWT pairs.

Access tokens are short-lived and stateless. Refresh tokens are recorded in SimpleJWT's blacklist
app (by their `jti` only: the token text itself is never stored, so a database dump holds no usable
token). Every token carries the user's `token_version`; bumping it refuses all of them at once.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import User

TOKEN_VERSION_CLAIM = "ver"


class _RefreshToken(RefreshToken):
    """SimpleJWT's refresh token, minus its separate blacklist lookup on decoding.

    Revocation is checked where it is enforced: the insert in `_revoke`, which fails for a token
    already revoked. The signature, expiry and type are still verified on decoding.
    """

    def verify(self) -> None:
        Token.verify(self)


class InvalidTokenError(Exception):
    """The token is forged, expired, of the wrong type, revoked, or its user can no longer log in."""


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


def issue_token_pair(user: User) -> TokenPair:
    refresh = _RefreshToken()
    refresh[api_settings.USER_ID_CLAIM] = str(user.pk)
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    OutstandingToken.objects.create(
        user=user,
        jti=refresh[api_settings.JTI_CLAIM],
        token="",
        created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )
    return TokenPair(
        access_token=str(refresh.access_token),
        refresh_token=str(refresh),
        expires_in=int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


def rotate_refresh_token(raw_token: str) -> TokenPair:
    """Trade a refresh token for a new pair; the presented token is refused from then on.

    Of several requests presenting the same token at once, exactly one wins: the revocation is an
    insert guarded by a unique constraint, so the others fail it instead of reading a stale state.
    """
    refresh = _decode_refresh(raw_token)
    user = user_for_token(refresh)
    with transaction.atomic():
        _revoke(refresh)
        return issue_token_pair(user)


def revoke_refresh_token(raw_token: str) -> None:
    _revoke(_decode_refresh(raw_token))


def revoke_all_tokens(user: User) -> None:
    """Refuse every access and refresh token issued to `user` so far. The caller saves the user."""
    user.token_version += 1


def user_for_token(token: Token) -> User:
    """The active user a valid token speaks for, if the token was issued since its last revocation."""
    try:
        user = User.objects.get(pk=int(token[api_settings.USER_ID_CLAIM]))
    except (KeyError, ValueError, TypeError, User.DoesNotExist) as exc:
        raise InvalidTokenError from exc
    if not user.is_active or token.get(TOKEN_VERSION_CLAIM) != user.token_version:
        raise InvalidTokenError
    return user


def _decode_refresh(raw_token: str) -> RefreshToken:
    try:
        return _RefreshToken(raw_token)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidTokenError from exc


def _revoke(refresh: RefreshToken) -> None:
    """Record `refresh` as revoked; fail if it was never issued or is revoked already.

    The blacklist's unique constraint makes this insert the single point where two requests
    revoking the same token are told apart: the second one fails it.
    """
    jti = refresh[api_settings.JTI_CLAIM]
    outstanding_id = OutstandingToken.objects.filter(jti=jti).order_by().values_list("id", flat=True).first()
    if outstanding_id is None:
        raise InvalidTokenError
    try:
        BlacklistedToken.objects.create(token_id=outstanding_id)
    except IntegrityError as exc:
        raise InvalidTokenError from exc
