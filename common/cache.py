"""A shared cache (Redis) that falls back to process-local memory while it is unreachable.

A cache outage must not take the API down: rate-limit counters and anything else cached keep
working, each process counting alone (so a guessing client gets at most the limit once per
process, instead of once overall), until the shared store answers again. The outage is logged
once per process, every operation served by the fallback counts in `cache_unavailable_total`,
and the shared store is tried again every `RETRY_SECONDS`; no restart is needed.

Used by `config/settings.py` for every cache when `REDIS_URL` is set:
`{"BACKEND": "common.cache.FallbackRedisCache", "LOCATION": url, "OPTIONS": {"RETRY_SECONDS": 5, ...}}`;
the other OPTIONS go to Django's `RedisCache` (socket timeouts, say).
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

from common.metrics import CACHE_UNAVAILABLE

logger = logging.getLogger(__name__)

# Per process, not per cache object: Django makes one cache object per thread, and an outage (its
# log line, the next try) is the process's. Cache name -> monotonic time of the next try of Redis.
_outages: dict[str, float] = {}
_outages_lock = threading.Lock()


class _SharedClientRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, with one `redis.Redis` per connection pool instead of a new
    one per operation.

    Django builds a client for every call, and redis-py's constructor copies its table of response
    callbacks each time: nearly half the CPU the rate limit cost a request. A client holds no
    connection of its own (each command borrows one from the pool, which redis-py keeps per
    process), so one per pool serves every call, after a fork and during an outage alike.
    """

    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own attributes (its pool per server, and redis-py's client class), not in its stubs.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class _RedisCache(RedisCache):
    """Django's RedisCache on `_SharedClientRedisCacheClient`."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedClientRedisCacheClient


class FallbackRedisCache(BaseCache):
    """Django's RedisCache, or a LocMemCache of this process while Redis cannot be reached."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        self.retry_seconds = float(options.pop("RETRY_SECONDS", 5))
        super().__init__({**params, "OPTIONS": {}})
        self.name = str(params.get("KEY_PREFIX") or server)
        self.shared = _RedisCache(server, {**params, "OPTIONS": options})
        # LocMemCache keeps its data per process under this name, shared by every thread.
        self.local = LocMemCache(f"fallback-{self.name}", {**params, "OPTIONS": {}})

    @property
    def degraded(self) -> bool:
        """True while this process serves the cache from its own memory."""
        return self.name in _outages

    def _call(self, operation: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `operation` (a method's name, or a function of a cache) on the shared cache, or on
        the local one during an outage."""
        down_until = _outages.get(self.name)
        if down_until is None or time.monotonic() >= down_until:
            try:
                result = self._run(self.shared, operation, *args, **kwargs)
            except RedisError as error:
                self._went_down(error)
            else:
                if down_until is not None:
                    self._came_back()
                return result
        CACHE_UNAVAILABLE.labels(self.name).inc()
        return self._run(self.local, operation, *args, **kwargs)

    @staticmethod
    def _run(cache: BaseCache, operation: str | Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if callable(operation):
            return operation(cache, *args, **kwargs)
        return getattr(cache, operation)(*args, **kwargs)

    def _went_down(self, error: RedisError) -> None:
        with _outages_lock:
            first = self.name not in _outages
            _outages[self.name] = time.monotonic() + self.retry_seconds
        if first:
            logger.warning(
                "Cache %r unreachable, using this process's memory until it answers (retried every %s s): %s",
                self.name,
                self.retry_seconds,
                error,
                extra={"event": "cache_unavailable", "cache": self.name},
            )

    def _came_back(self) -> None:
        with _outages_lock:
            was_down = _outages.pop(self.name, None) is not None
        if was_down:
            logger.info("Cache %r reachable again", self.name, extra={"event": "cache_recovered", "cache": self.name})

    # Django's cache API, operation by operation (the rest of BaseCache is built on these).
    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return bool(self._call("add", key, value, timeout, version))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._call("get", key, default, version)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._call("set", key, value, timeout, version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return bool(self._call("touch", key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return bool(self._call("delete", key, version))

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return dict(self._call("get_many", keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return bool(self._call("has_key", key, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return int(self._call("incr", key, delta, version))

    def incr_expiring(self, key: Any, timeout: int) -> int:
        return int(self._call(incr_expiring, key, timeout))

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        return list(self._call("set_many", data, timeout, version))

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._call("delete_many", keys, version)

    def clear(self) -> None:
        self.local.clear()
        self._call("clear")

    def close(self, **kwargs: Any) -> None:
        self.shared.close(**kwargs)
        self.local.close(**kwargs)


def incr_expiring(cache: BaseCache, key: str, timeout: int) -> int:
    """Add one to the counter `key`, which expires `timeout` seconds after its first count; the
    new count. On Redis one round trip (INCR and EXPIRE NX, pipelined): a rate limit checked on
    every request costs one exchange with Redis, not the three of Django's add-then-incr."""
    if isinstance(cache, FallbackRedisCache):
        return cache.incr_expiring(key, timeout)
    if isinstance(cache, RedisCache):
        # make_key, not make_and_validate_key: the validation only warns about keys memcached
        # would refuse, character by character, on every request.
        full_key = cache.make_key(key)
        pipeline = cache._cache.get_client(full_key, write=True).pipeline(transaction=False)
        pipeline.incr(full_key)
        pipeline.expire(full_key, timeout, nx=True)
        return int(pipeline.execute()[0])
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # it expired between add and incr: this is the first count of the next one
        cache.add(key, 1, timeout=timeout)
        return 1
