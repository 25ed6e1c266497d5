from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    USER = "user", "User"


class RevocationReason(models.TextChoices):
    """Why a refresh-token family (a login session) was ended."""

    LOGOUT = "logout", "Logged out"
    LOGOUT_ALL = "logout_all", "Logged out everywhere"
    REUSE = "reuse", "A rotated refresh token was presented again"
    PASSWORD_CHANGE = "password_change", "Password changed"
    PASSWORD_RESET = "password_reset", "Password reset"
    DEACTIVATION = "deactivation", "Account deactivated"
    SESSION_END = "session_end", "Ended from the session list"
    ADMIN = "admin", "Ended by an admin"
