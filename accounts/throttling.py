"""The accounts' own rate limits: failed logins, refreshes and password-reset requests.

See `common.throttling` for how counting works across processes.
"""

import hashlib

from common.client import rate_limit_identity
from common.throttling import Counter


def _key(value: str) -> str:
    """A fixed-length cache key part for a value such as an email address."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginFailureThrottle:
    """Failed logins, per account and client address and per client address overall.

    Only failures count: a user who logs in successfully is never slowed down by their own
    logins, and an attacker guessing one account's password is stopped after a few tries.
    """

    def __init__(self, *, email: str, address: str) -> None:
        address = rate_limit_identity(address)
        self.counters = (
            Counter("login_failures", f"{_key(email)}:{_key(address)}"),
            Counter("login_failures_per_address", _key(address)),
        )

    def attempt(self) -> int | None:
        """Count an attempt as a failure until it succeeds; seconds to wait if over a limit.

        Counting before the password is checked (an atomic increment) means parallel guesses
        cannot all read the same count and slip past the limit together.
        """
        waits = [window.retry_after for counter in self.counters if counter.exceeded(window := counter.hit())]
        return max(waits) if waits else None

    def succeeded(self) -> None:
        """Take back the attempt: a successful login never counts against the user."""
        for counter in self.counters:
            counter.forget_one()


def refresh_retry_after(user_id: int) -> int | None:
    """Count one refresh for the user; seconds to wait if that is over their limit."""
    return _retry_after(Counter("refresh", str(user_id)))


def password_reset_retry_after(email: str) -> int | None:
    """Count one reset request for the email; seconds to wait if that is over its limit.

    Per email, whatever the address asking, so one mailbox cannot be flooded from many addresses.
    """
    return _retry_after(Counter("password_reset_per_email", _key(email)))


def _retry_after(counter: Counter) -> int | None:
    window = counter.hit()
    return window.retry_after if counter.exceeded(window) else None
