"""`RateLimit-Policy` and `RateLimit` response headers (IETF httpapi RateLimit header fields draft).

Every rate-limit counter bumped while a request is handled (`common.throttling.Counter.hit`) records
its window here, from the count the cache already returned: advertising the limits costs no extra
round trip to the cache. The middleware writes what was recorded on the response, one list member
per policy (the counter's scope):

    RateLimit-Policy: "user";q=3000;w=60        quota q requests per window of w seconds
    RateLimit: "user";r=2987;t=41               r requests remain, the window resets in t seconds
"""

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse


@dataclass
class Quota:
    limit: int
    window_seconds: int
    remaining: int
    reset_seconds: int


_quotas: ContextVar[dict[str, Quota] | None] = ContextVar("rate_limit_quotas", default=None)


def record(scope: str, limit: int, window_seconds: int, *, hits: int, reset_seconds: int) -> None:
    quotas = _quotas.get()
    if quotas is not None:  # outside a request (a job, a shell) there is nothing to answer
        quotas[scope] = Quota(limit, window_seconds, max(0, limit - hits), reset_seconds)


def give_back(scope: str) -> None:
    """A hit was taken back (a successful login): one more request remains."""
    quotas = _quotas.get()
    if quotas is not None and scope in quotas:
        quota = quotas[scope]
        quota.remaining = min(quota.limit, quota.remaining + 1)


class RateLimitHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _quotas.set({})
        try:
            response = self.get_response(request)
            quotas = _quotas.get() or {}
        finally:
            _quotas.reset(token)
        if quotas:
            response["RateLimit-Policy"] = ", ".join(
                f'"{scope}";q={quota.limit};w={quota.window_seconds}' for scope, quota in quotas.items()
            )
            response["RateLimit"] = ", ".join(
                f'"{scope}";r={quota.remaining};t={quota.reset_seconds}' for scope, quota in quotas.items()
            )
        return response
