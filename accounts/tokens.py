"""Issuing, rotating and revoking JWT pairs, in refresh-token families.

Each login starts a family (`RefreshTokenFamily`); each refresh rotates within it. Refresh tokens
are recorded by `jti` in SimpleJWT's outstanding-token table and blacklisted once rotated. The token
text itself is never stored, so a database dump holds no usable token.

Presenting a rotated refresh token again is taken as theft (RFC 9700, section 4.14.2): the whole
family is revoked, its newest token included. Rotations of one family are serialized by a row lock
on the family, and the blacklist's unique constraint refuses a second rotation of the same token
even where row locks are not available, so of N parallel refreshes of one token exactly one wins.

Every token also carries the user's `token_version`; bumping it refuses all of the user's access
and refresh tokens at once (password change, password reset, deactivation).
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import RefreshTokenFamily, RevocationReason, User

TOKEN_VERSION_CLAIM = "ver"
FAMILY_CLAIM = "fam"


class InvalidTokenError(Exception):
    """The token is forged, expired, of the wrong type, revoked, or its user can no longer log in."""


class TokenReuseError(InvalidTokenError):
    """A rotated refresh token was presented again; its family has been revoked."""

    def __init__(self, family: RefreshTokenFamily) -> None:
        super().__init__(f"refresh token reuse in family {family.pk}")
        self.family = family


class _RefreshToken(RefreshToken):
    """SimpleJWT's refresh token, minus its separate blacklist lookup on decoding.

    Revocation is checked where it is enforced, in `rotate_refresh_token` and `revoke_family`.
    Signature, algorithm, expiry, issuer, audience and type are still verified on decoding.
    """

    def verify(self) -> None:
        Token.verify(self)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


def issue_token_pair(user: User, family: RefreshTokenFamily | None = None) -> TokenPair:
    """A new pair for `user`: in a new family (a login) unless `family` is given (a rotation)."""
    refresh = _RefreshToken()
    expires_at = datetime_from_epoch(refresh["exp"])
    if family is None:
        family = RefreshTokenFamily.objects.create(user=user, expires_at=expires_at)
    else:
        family.expires_at = expires_at
        family.save(update_fields=["expires_at"])
    refresh[api_settings.USER_ID_CLAIM] = str(user.pk)
    refresh[TOKEN_VERSION_CLAIM] = user.token_version
    refresh[FAMILY_CLAIM] = family.pk
    OutstandingToken.objects.create(
        user=user,
        jti=refresh[api_settings.JTI_CLAIM],
        token="",
        created_at=refresh.current_time,
        expires_at=expires_at,
    )
    access = refresh.access_token
    del access[FAMILY_CLAIM]  # access tokens are not bound to a session
    return TokenPair(
        access_token=str(access),
        refresh_token=str(refresh),
        expires_in=int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


def decode_refresh_token(raw_token: str) -> RefreshToken:
    """Verify a refresh token's signature and claims; says nothing yet about revocation."""
    try:
        refresh = _RefreshToken(raw_token)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidTokenError from exc
    if not isinstance(refresh.get(FAMILY_CLAIM), int):
        raise InvalidTokenError
    return refresh


def rotate_refresh_token(refresh: RefreshToken) -> TokenPair:
    """Trade a decoded refresh token for a new pair in its family.

    Raises `TokenReuseError` (after revoking the family) when the token was already rotated, and
    `InvalidTokenError` when the family was revoked or the user can no longer log in.
    """
    user = user_for_token(refresh)
    jti = refresh[api_settings.JTI_CLAIM]
    try:
        with transaction.atomic():
            family = _locked_live_family(refresh, user)
            outstanding = (
                OutstandingToken.objects.filter(jti=jti).order_by().values_list("id", "blacklistedtoken").first()
            )
            if outstanding is None:
                raise InvalidTokenError
            outstanding_id, blacklisted = outstanding
            if blacklisted is None:
                # Fails on the unique constraint if a parallel request rotated this token first.
                BlacklistedToken.objects.create(token_id=outstanding_id)
                return issue_token_pair(user, family)
            _revoke(family, RevocationReason.REUSE)
    except IntegrityError:
        with transaction.atomic():
            family = _locked_live_family(refresh, user, allow_revoked=True)
            _revoke(family, RevocationReason.REUSE)
    raise TokenReuseError(family)


def revoke_family(refresh: RefreshToken, reason: RevocationReason = RevocationReason.LOGOUT) -> RefreshTokenFamily:
    """End the session a decoded refresh token belongs to (logout)."""
    user = user_for_token(refresh)
    with transaction.atomic():
        family = _locked_live_family(refresh, user)
        _revoke(family, reason)
    return family


def revoke_all_families(user: User, reason: RevocationReason) -> int:
    """End every session of `user`; their access tokens live on until they expire."""
    return (
        RefreshTokenFamily.objects.of(user)
        .filter(revoked_at__isnull=True)
        .update(revoked_at=timezone.now(), revoked_reason=reason)
    )


def revoke_all_tokens(user: User, reason: RevocationReason) -> None:
    """End every session of `user` and refuse their access tokens at once.

    Bumps `token_version` on the instance: the caller saves the user in the same transaction.
    """
    revoke_all_families(user, reason)
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


def _locked_live_family(refresh: RefreshToken, user: User, *, allow_revoked: bool = False) -> RefreshTokenFamily:
    family = RefreshTokenFamily.objects.select_for_update().filter(pk=refresh[FAMILY_CLAIM], user=user).first()
    if family is None or (family.is_revoked and not allow_revoked) or family.expires_at <= timezone.now():
        raise InvalidTokenError
    return family


def _revoke(family: RefreshTokenFamily, reason: RevocationReason) -> None:
    family.revoked_at = timezone.now()
    family.revoked_reason = reason
    family.save(update_fields=["revoked_at", "revoked_reason"])
