"""Health checks for load balancers and orchestrators."""

import logging
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

logger = logging.getLogger(__name__)

_status_body = inline_serializer(
    "HealthStatus",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "degraded", "unavailable"]),
        "checks": serializers.DictField(child=serializers.CharField(), required=False),
    },
)


class HealthView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()


class LiveView(HealthView):
    """The process is up and answering; touches neither the database nor the cache."""

    @extend_schema(tags=["health"], responses={200: _status_body}, operation_id="health_live")
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(HealthView):
    """Whether the process can serve traffic: 503 only when it cannot do without what failed.

    Without the database nothing can be served: 503, so the balancer takes the instance out.
    Without the shared cache (Redis) the API still serves, with each process counting rate limits
    alone (see `common.cache`): 200 with `"cache": "degraded"`, so a Redis outage does not take the
    whole fleet out of the balancer.
    """

    @extend_schema(tags=["health"], responses={200: _status_body, 503: _status_body}, operation_id="health_ready")
    def get(self, request: Request) -> Response:
        checks = {"database": _check(_database), "cache": _check(_cache)}
        if checks["database"] != "ok":
            return Response({"status": "unavailable", "checks": checks}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"status": "ok" if checks["cache"] == "ok" else "degraded", "checks": checks})


def _check(probe: Callable[[], str | None]) -> str:
    """The probe's own answer (such as "degraded"); "ok" when it has none; "unavailable" when it raises."""
    try:
        result = probe()
    except Exception as error:
        logger.warning("Readiness check %s failed: %s", probe.__name__.lstrip("_"), error)
        return "unavailable"
    return result or "ok"


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> str | None:
    """A round trip through the cache; "degraded" when it was served by this process's fallback."""
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just stored")
    cache.delete(key)
    return "degraded" if getattr(cache, "degraded", False) else None
