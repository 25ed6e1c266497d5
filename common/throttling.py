"""Rate limits that hold across processes and machines.

Counters live in the "throttle" cache (Redis in production) and are bumped with an atomic
increment in fixed windows, so parallel requests on several workers cannot slip past a limit the
way a read-then-write of a request history can. Rates come from `settings.THROTTLE_RATES`; a scope
without a rate is not limited.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from common import ratelimit
from common.cache import incr_expiring
from common.client import client_address, rate_limit_identity

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, rate: str) -> Rate:
        """`"10/min"`, `"5/hour"`, `"100/s"`..."""
        count, period = rate.split("/")
        return cls(count=int(count), seconds=_PERIODS[period.strip().lower()])


# Every request asks for its limits' rates, and a process only ever sees a few rate strings.
_parse_rate = functools.lru_cache(maxsize=64)(Rate.parse)


def rate_for(scope: str) -> Rate | None:
    rate = settings.THROTTLE_RATES.get(scope)
    return _parse_rate(rate) if rate else None


@dataclass(frozen=True)
class Window:
    """How many hits the current window of a counter has seen, and when it ends."""

    hits: int
    retry_after: int


class Counter:
    """A fixed-window counter per `scope` and identity, shared by every process using the cache."""

    def __init__(self, scope: str, identity: str) -> None:
        self.scope = scope
        self.identity = identity
        self.rate = rate_for(scope)

    def _key(self, rate: Rate, now: float) -> tuple[str, int]:
        window = int(now // rate.seconds)
        retry_after = max(1, math.ceil((window + 1) * rate.seconds - now))
        return f"{self.scope}:{self.identity}:{window}", retry_after

    def hit(self) -> Window:
        """Count one event and return the window's total, this event included."""
        if self.rate is None:
            return Window(hits=0, retry_after=0)
        key, retry_after = self._key(self.rate, time.time())
        hits = incr_expiring(caches["throttle"], key, timeout=self.rate.seconds + 1)
        ratelimit.record(self.scope, self.rate.count, self.rate.seconds, hits=hits, reset_seconds=retry_after)
        return Window(hits=hits, retry_after=retry_after)

    def forget_one(self) -> None:
        """Take back one hit of the current window (if it is still the current one)."""
        if self.rate is None:
            return
        key, _ = self._key(self.rate, time.time())
        with contextlib.suppress(ValueError):  # the window has ended: nothing to take back
            caches["throttle"].decr(key)
            ratelimit.give_back(self.scope)

    def exceeded(self, window: Window) -> bool:
        return self.rate is not None and window.hits > self.rate.count


class FixedWindowRateThrottle(BaseThrottle):
    """Base for DRF throttles: counts every request of a scope per identity."""

    scope: str = ""

    def __init__(self) -> None:
        self._wait: float | None = None

    def get_identity(self, request: Request, view: APIView) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: APIView) -> bool:
        if rate_for(self.scope) is None:
            return True
        identity = self.get_identity(request, view)
        if identity is None:
            return True
        counter = Counter(self.scope, identity)
        window = counter.hit()
        if counter.exceeded(window):
            self._wait = window.retry_after
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


class AnonRateThrottle(FixedWindowRateThrottle):
    """Requests without a signed-in user, per client address."""

    scope = "anon"

    def get_identity(self, request: Request, view: APIView) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return rate_limit_identity(client_address(request))


class UserRateThrottle(FixedWindowRateThrottle):
    """Requests of a signed-in user, per user."""

    scope = "user"

    def get_identity(self, request: Request, view: APIView) -> str | None:
        if request.user and request.user.is_authenticated:
            return str(request.user.pk)
        return None


class AddressRateThrottle(FixedWindowRateThrottle):
    """Every request to a view, per client address, under the view's `throttle_scope`."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.scope = getattr(view, "throttle_scope", "")
        return super().allow_request(request, view)

    def get_identity(self, request: Request, view: APIView) -> Any:
        return rate_limit_identity(client_address(request))
