"""Security events: one structured log line each, on the `security` logger.

Each line names the event and the user; the logging filter adds the client address and the
request id. Never a password, a token or a hash.
"""

import logging
from enum import StrEnum
from typing import Any

logger = logging.getLogger("security")


class Event(StrEnum):
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    REFRESH_REUSE_DETECTED = "refresh_reuse_detected"
    LOGOUT = "logout"
    LOGOUT_ALL = "logout_all"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"
    PASSWORD_RESET = "password_reset"
    USER_DEACTIVATED = "user_deactivated"
    ROLE_CHANGED = "role_changed"
    SIGNED_UP = "signed_up"
    SIGNUP_EMAIL_TAKEN = "signup_email_taken"
    EMAIL_VERIFIED = "email_verified"
    EMAIL_CHANGE_REQUESTED = "email_change_requested"
    EMAIL_CHANGED = "email_changed"
    ACCOUNT_DELETION_REQUESTED = "account_deletion_requested"
    ACCOUNT_ERASED = "account_erased"
    PASSWORD_CHANGE_FAILED = "password_change_failed"
    PASSWORD_RESET_THROTTLED = "password_reset_throttled"
    SESSION_ENDED = "session_ended"


class Channel(StrEnum):
    """Where a password was presented: the API's login, the admin site's, a password change, or
    an account deletion."""

    API = "api"
    ADMIN = "admin"
    PASSWORD_CHANGE = "password_change"
    ACCOUNT_DELETION = "account_deletion"


_ALARMING = {
    Event.LOGIN_FAILED,
    Event.LOGIN_THROTTLED,
    Event.REFRESH_REUSE_DETECTED,
    Event.PASSWORD_CHANGE_FAILED,
    Event.PASSWORD_RESET_THROTTLED,
}


def security_event(event: Event, *, user_id: int | None, **fields: Any) -> None:
    """Log `event` for `user_id`; `fields` are further facts (an actor's id, a new role), never secrets."""
    level = logging.WARNING if event in _ALARMING else logging.INFO
    logger.log(level, "security event %s", event.value, extra={"event": event.value, "user_id": user_id, **fields})
