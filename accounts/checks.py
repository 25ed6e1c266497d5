"""System checks of the token settings: `manage.py check` reports them (ids `accounts.E001`-`E004`).

Each would silently weaken security. They are Errors, so `check` (and `runserver`, which runs the
checks) fails; `config/wsgi.py` runs them too, so gunicorn refuses to start with one.
"""

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

PINNED_ALGORITHM = "HS256"
MAX_LEEWAY_SECONDS = 5


@register(Tags.security)
def check_token_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Rotation without revocation would leave every rotated refresh token usable until it expires;
    another algorithm (or `none`) would accept tokens the app never signed the way it expects."""
    jwt = settings.SIMPLE_JWT
    errors: list[CheckMessage] = []
    if jwt.get("ROTATE_REFRESH_TOKENS") and not (
        jwt.get("BLACKLIST_AFTER_ROTATION") and apps.is_installed("rest_framework_simplejwt.token_blacklist")
    ):
        errors.append(
            Error(
                "SIMPLE_JWT rotates refresh tokens but does not revoke rotated ones.",
                hint="Set BLACKLIST_AFTER_ROTATION and install rest_framework_simplejwt.token_blacklist.",
                id="accounts.E001",
            )
        )
    if jwt.get("ALGORITHM") != PINNED_ALGORITHM:
        errors.append(Error(f"SIMPLE_JWT['ALGORITHM'] must be {PINNED_ALGORITHM}.", id="accounts.E002"))
    if not jwt.get("ISSUER") or not jwt.get("AUDIENCE"):
        errors.append(
            Error(
                "Tokens must carry and be checked for an issuer and an audience.",
                hint="Set JWT_ISSUER and JWT_AUDIENCE.",
                id="accounts.E003",
            )
        )
    leeway = jwt.get("LEEWAY", 0)
    if not 0 <= int(getattr(leeway, "total_seconds", lambda: leeway)()) <= MAX_LEEWAY_SECONDS:
        errors.append(
            Error(
                f"SIMPLE_JWT['LEEWAY'] must be between 0 and {MAX_LEEWAY_SECONDS} seconds.",
                hint=f"Set JWT_LEEWAY_SECONDS to at most {MAX_LEEWAY_SECONDS}.",
                id="accounts.E004",
            )
        )
    return errors


def verify_token_settings() -> None:
    """Raise `ImproperlyConfigured` if a token check fails: how the WSGI app refuses to start."""
    errors = check_token_settings()
    if errors:
        raise ImproperlyConfigured(" ".join(f"{e.id}: {e.msg} {e.hint or ''}".strip() for e in errors))
