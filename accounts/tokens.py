"""Issuing, decoding, rotating and revoking JWT pairs, in refresh-token families (sessions).

Each login starts a family (`RefreshTokenFamily`); each refresh rotates within it. Refresh tokens
are recorded by `jti` in SimpleJWT's outstanding-token table and blacklisted once rotated. The token
text itself is never stored, so a database dump holds no usable token.

Presenting a rotated refresh token again (to refresh or to log out) is taken as theft (RFC 9700,
section 4.14.2): the whole family is revoked, its newest token included. Rotations of one family
are serialized by a row lock on the family, and the blacklist's unique constraint refuses a second
rotation of the same token even where row locks are not available, so of N parallel refreshes of
one token exactly one wins.

A family ends `REFRESH_SESSION_MAX_LIFETIME` after the login that started it, however often it is
refreshed: no token of it expires later. Access tokens name their family in `sid`, and are refused
as soon as it ends (checked in the one statement that loads the user). Every token also carries the
user's `token_version`; bumping it refuses all of the user's tokens at once.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch, datetime_to_epoch

from accounts.models import USER_AGENT_MAX_LENGTH, RefreshTokenFamily, RevocationReason, User
from common.client import Client

TOKEN_VERSION_CLAIM = "ver"
FAMILY_CLAIM = "fam"
SESSION_CLAIM = "sid"  # the family, in access tokens (OpenID Connect's name for a session id)
_MAX_ID = 2**63  # ids are 64-bit: anything larger would fail in the database, not as a bad token
# What SimpleJWT raises on a correctly signed token with a malformed claim (an `exp` that is a
# string or out of range, a missing `jti`...), besides its own `TokenError`.
_MALFORMED = (TokenError, TypeError, ValueError, OverflowError, KeyError, AttributeError)


class InvalidTokenError(Exception):
    """The token is forged, expired, malformed, revoked, or its user can no longer log in."""


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


def session_ends_at(family: RefreshTokenFamily) -> datetime:
    """The moment a session ends at the latest, however often it is refreshed."""
    return family.created_at + settings.REFRESH_SESSION_MAX_LIFETIME


def issue_token_pair(
    user: User, family: RefreshTokenFamily | None = None, *, client: Client | None = None
) -> TokenPair:
    """A new pair for `user`: in a new family (a login) unless `family` is given (a rotation).

    `client` is who asked, recorded on the session as of this login or refresh.
    """
    client = client or Client()
    now = timezone.now()
    refresh = _RefreshToken()
    details = {
        "last_used_at": now,
        "user_agent": client.user_agent[:USER_AGENT_MAX_LENGTH],
        "ip_address": client.ip_address,
    }
    if family is None:
        family = RefreshTokenFamily(user=user, created_at=now, expires_at=now, **details)
    expires_at = min(datetime_from_epoch(refresh["exp"]), session_ends_at(family))
    refresh["exp"] = datetime_to_epoch(expires_at)
    family.expires_at = expires_at
    if family.pk is None:
        family.save()
    else:
        for name, value in details.items():
            setattr(family, name, value)
        family.save(update_fields=["expires_at", *details])
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
    del access[FAMILY_CLAIM]
    access[SESSION_CLAIM] = family.pk
    access["exp"] = min(access["exp"], refresh["exp"])
    return TokenPair(
        access_token=str(access),
        refresh_token=str(refresh),
        expires_in=int(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


def decode_refresh_token(raw_token: str) -> RefreshToken:
    """Verify a refresh token's signature and claims; says nothing yet about revocation."""
    refresh = _decode(_RefreshToken, raw_token)
    _id_claim(refresh, FAMILY_CLAIM)
    token_user_id(refresh)
    return refresh


def token_user_id(token: Token) -> int:
    """The id of the user a decoded token speaks for (InvalidTokenError if it is malformed)."""
    return _id_claim(token, api_settings.USER_ID_CLAIM, as_text=True)


def decode_access_token(raw_token: str | bytes) -> AccessToken:
    """Verify an access token's signature and claims; `user_for_access_token` checks the rest."""
    access = _decode(AccessToken, raw_token)
    _id_claim(access, SESSION_CLAIM)
    token_user_id(access)
    return access


def user_for_access_token(access: Token) -> User:
    """The user a decoded access token speaks for, if it still may: one statement.

    The user's row and whether the token's session is still live are read together, so ending a
    session refuses its access tokens at once without a second query per request.
    """
    user = User.objects.for_session(user_id=token_user_id(access), session_id=_id_claim(access, SESSION_CLAIM))
    if user is None or not user.session_live:
        raise InvalidTokenError
    _check_user(user, access)
    return user


def rotate_refresh_token(refresh: RefreshToken, *, client: Client | None = None) -> TokenPair:
    """Trade a decoded refresh token for a new pair in its family.

    Raises `TokenReuseError` (after revoking the family) when the token was already rotated, and
    `InvalidTokenError` when the family was revoked or ended or the user can no longer log in.
    """
    user = user_for_token(refresh)
    try:
        with transaction.atomic():
            family = _locked_live_family(refresh, user)
            outstanding_id, blacklisted = _outstanding(refresh)
            if not blacklisted:
                # Fails on the unique constraint if a parallel request rotated this token first.
                BlacklistedToken.objects.create(token_id=outstanding_id)
                return issue_token_pair(user, family, client=client)
            _revoke(family, RevocationReason.REUSE)
    except IntegrityError:
        with transaction.atomic():
            family = _locked_live_family(refresh, user, allow_revoked=True)
            _revoke(family, RevocationReason.REUSE)
    raise TokenReuseError(family)


def revoke_family(refresh: RefreshToken, reason: RevocationReason = RevocationReason.LOGOUT) -> RefreshTokenFamily:
    """End the session a decoded refresh token belongs to (logout).

    A token already rotated is reuse, as for a refresh: the family is revoked as stolen and
    `TokenReuseError` raised.
    """
    user = user_for_token(refresh)
    with transaction.atomic():
        family = _locked_live_family(refresh, user)
        _, rotated = _outstanding(refresh)
        _revoke(family, RevocationReason.REUSE if rotated else reason)
    if rotated:
        raise TokenReuseError(family)
    return family


def revoke_session(family: RefreshTokenFamily, reason: RevocationReason) -> bool:
    """End one session; False when it had already ended."""
    return bool(
        RefreshTokenFamily.objects.live().filter(pk=family.pk).update(revoked_at=timezone.now(), revoked_reason=reason)
    )


def revoke_all_families(user: User, reason: RevocationReason) -> int:
    """End every session of `user` (their access tokens with them). Returns how many were live."""
    return (
        RefreshTokenFamily.objects.of(user)
        .filter(revoked_at__isnull=True)
        .update(revoked_at=timezone.now(), revoked_reason=reason)
    )


def revoke_all_tokens(user: User, reason: RevocationReason) -> int:
    """End every session of `user` and refuse every token issued to them so far.

    Bumps `token_version` on the instance: the caller saves the user in the same transaction.
    """
    ended = revoke_all_families(user, reason)
    user.token_version += 1
    return ended


def user_for_token(token: Token) -> User:
    """The active user a valid token speaks for, if the token was issued since its last revocation."""
    user = User.objects.filter(pk=token_user_id(token)).first()
    if user is None:
        raise InvalidTokenError
    _check_user(user, token)
    return user


def _decode[T: Token](token_class: type[T], raw_token: str | bytes) -> T:
    try:
        token = token_class(raw_token)  # type: ignore[arg-type]
    except _MALFORMED as exc:
        raise InvalidTokenError from exc
    if not isinstance(token.get(api_settings.JTI_CLAIM), str):
        raise InvalidTokenError
    return token


def _id_claim(token: Token, claim: str, *, as_text: bool = False) -> int:
    """A claim holding a database id, or InvalidTokenError. `as_text`: written as a string of digits
    (SimpleJWT writes the user id so), else as a JSON integer."""
    value = token.get(claim)
    if as_text:
        value = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None
    if type(value) is not int or not 0 < value < _MAX_ID:
        raise InvalidTokenError
    return value


def _check_user(user: User, token: Token) -> None:
    if not user.is_active or token.get(TOKEN_VERSION_CLAIM) != user.token_version:
        raise InvalidTokenError


def _outstanding(refresh: RefreshToken) -> tuple[int, bool]:
    """The presented refresh token's record id, and whether it was rotated already."""
    outstanding = (
        OutstandingToken.objects.filter(jti=refresh[api_settings.JTI_CLAIM])
        .order_by()
        .values_list("id", "blacklistedtoken")
        .first()
    )
    if outstanding is None:
        raise InvalidTokenError
    return outstanding[0], outstanding[1] is not None


def _locked_live_family(refresh: RefreshToken, user: User, *, allow_revoked: bool = False) -> RefreshTokenFamily:
    family = RefreshTokenFamily.objects.select_for_update().filter(pk=refresh[FAMILY_CLAIM], user=user).first()
    now = timezone.now()
    if (
        family is None
        or (family.is_revoked and not allow_revoked)
        or family.expires_at <= now
        or session_ends_at(family) <= now
    ):
        raise InvalidTokenError
    return family


def _revoke(family: RefreshTokenFamily, reason: RevocationReason) -> None:
    family.revoked_at = timezone.now()
    family.revoked_reason = reason
    family.save(update_fields=["revoked_at", "revoked_reason"])
