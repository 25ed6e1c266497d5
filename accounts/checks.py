"""Refuse to start with token settings that would silently weaken security."""

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PINNED_ALGORITHM = "HS256"
MAX_LEEWAY_SECONDS = 5


def verify_token_settings() -> None:
    """Raise `ImproperlyConfigured` on the first unsafe JWT setting found.

    Rotation without revocation would leave every rotated refresh token usable until it expires;
    another algorithm (or `none`) would accept tokens the app never signed the way it expects.
    """
    jwt = settings.SIMPLE_JWT
    if jwt.get("ROTATE_REFRESH_TOKENS") and not (
        jwt.get("BLACKLIST_AFTER_ROTATION") and apps.is_installed("rest_framework_simplejwt.token_blacklist")
    ):
        raise ImproperlyConfigured(
            "SIMPLE_JWT rotates refresh tokens but does not revoke rotated ones: set BLACKLIST_AFTER_ROTATION "
            "and install rest_framework_simplejwt.token_blacklist."
        )
    if jwt.get("ALGORITHM") != PINNED_ALGORITHM:
        raise ImproperlyConfigured(f"SIMPLE_JWT['ALGORITHM'] must be {PINNED_ALGORITHM}.")
    if not jwt.get("ISSUER") or not jwt.get("AUDIENCE"):
        raise ImproperlyConfigured("Set JWT_ISSUER and JWT_AUDIENCE: tokens must carry and be checked for both.")
    leeway = jwt.get("LEEWAY", 0)
    if not 0 <= int(getattr(leeway, "total_seconds", lambda: leeway)()) <= MAX_LEEWAY_SECONDS:
        raise ImproperlyConfigured(f"SIMPLE_JWT['LEEWAY'] must be between 0 and {MAX_LEEWAY_SECONDS} seconds.")
