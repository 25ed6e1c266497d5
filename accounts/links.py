"""The single-use links the app mails: password reset, email verification, email change.

Each link carries a `uid` (the user's id, base64) and a `token`. Links point at the web front end
(`FRONTEND_URL`, or `PASSWORD_RESET_URL` for resets), never at the request's Host header, which a
client controls.

A verification or email-change token is a signed, timestamped statement of the account's state
when it was made (its id and current email, plus the new email for a change). It works only while
that state holds, so it works once: verifying sets `email_verified_at`, a change replaces the
email. Reset tokens are Django's, which sign the password hash in the same way.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlencode, urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User

_VERIFY_SALT = "accounts.links.verify-email"
_CHANGE_SALT = "accounts.links.change-email"


def uid_of(user: User) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def user_id_from_uid(uid: str) -> int | None:
    try:
        pk = int(force_str(urlsafe_base64_decode(uid)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    return pk if 0 < pk < 2**63 else None


def password_reset_link(user: User) -> str:
    return settings.PASSWORD_RESET_URL.format(uid=uid_of(user), token=default_token_generator.make_token(user))


def verification_link(user: User) -> str:
    token = signing.dumps({"id": user.pk, "email": user.email}, salt=_VERIFY_SALT, compress=True)
    return _frontend_link("/verify-email", user, token)


def email_change_link(user: User, new_email: str) -> str:
    token = signing.dumps({"id": user.pk, "email": user.email, "new": new_email}, salt=_CHANGE_SALT, compress=True)
    return _frontend_link("/confirm-email", user, token)


def verification_holds(user: User, token: str) -> bool:
    """The token was made for this unverified account, as it is now, and has not expired."""
    claims = _claims(token, _VERIFY_SALT)
    return (
        claims is not None
        and not user.is_verified
        and claims.get("id") == user.pk
        and claims.get("email") == user.email
    )


def email_change_target(user: User, token: str) -> str | None:
    """The new email a change token asks for, if it was made for this account as it is now."""
    claims = _claims(token, _CHANGE_SALT)
    if claims is None or claims.get("id") != user.pk or claims.get("email") != user.email:
        return None
    new = claims.get("new")
    return new if isinstance(new, str) else None


def _claims(token: str, salt: str) -> dict[str, Any] | None:
    try:
        claims = signing.loads(token, salt=salt, max_age=settings.EMAIL_VERIFICATION_TIMEOUT)
    except signing.BadSignature:  # also an expired one (SignatureExpired)
        return None
    return claims if isinstance(claims, dict) else None


def _frontend_link(path: str, user: User, token: str) -> str:
    return f"{settings.FRONTEND_URL}{path}?{urlencode({'uid': uid_of(user), 'token': token})}"
