"""Redis down: the API keeps serving on each process's own counters, and goes back to Redis by itself."""

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from django.core.cache import caches
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import User
from common.metrics import CACHE_UNAVAILABLE
from tests.auth_helpers import json_login
from tests.test_throttle_redis import REDIS_URL

RETRY_SECONDS = 0.3


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fallback_caches(url: str, prefix: str) -> dict[str, Any]:
    """The production cache configuration (see config/settings.py) pointed at `url`."""
    options = {"RETRY_SECONDS": RETRY_SECONDS, "socket_connect_timeout": 1, "socket_timeout": 1}
    return {
        alias: {
            "BACKEND": "common.cache.FallbackRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"{prefix}-{alias}",
            "OPTIONS": options,
        }
        for alias in ("default", "throttle")
    }


def unavailable_count(alias_prefix: str) -> float:
    return CACHE_UNAVAILABLE.labels(alias_prefix)._value.get()


@pytest.fixture
def redis_down(settings: Settings) -> str:
    prefix = f"down-{uuid.uuid4().hex[:8]}"
    settings.CACHES = fallback_caches(f"redis://127.0.0.1:{closed_port()}/0", prefix)
    return prefix


@pytest.mark.django_db
def test_with_redis_unreachable_the_api_serves_and_limits_still_refuse_a_guesser(
    redis_down: str, user: User, user_client: APIClient, api_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="common.cache")
    assert user_client.get("/api/v1/users/me").status_code == 200
    assert user_client.post("/api/v1/tasks/", {"title": "written during the outage"}, format="json").status_code == 201
    assert json_login(api_client, user.email).status_code == 200

    guesses = [json_login(api_client, user.email, "wrong-password").status_code for _ in range(12)]
    assert guesses == [401] * 10 + [429] * 2  # THROTTLE_LOGIN_FAILURES: 10/min, counted by this process

    outage_logs = [record for record in caplog.records if record.name == "common.cache"]
    assert [record.getMessage().split(",")[0] for record in outage_logs] == [
        f"Cache '{redis_down}-throttle' unreachable",
    ]
    assert unavailable_count(f"{redis_down}-throttle") > 0


@pytest.mark.django_db
def test_readiness_stays_200_and_says_the_cache_is_degraded(redis_down: str, api_client: APIClient) -> None:
    response = api_client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "checks": {"database": "ok", "cache": "degraded"}}


def test_during_an_outage_redis_is_tried_again_only_after_the_retry_interval(
    redis_down: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = caches["default"]
    cache.set("key", "value")  # Redis refuses: the outage starts, the value goes to this process's memory
    tries: list[object] = []
    real_get = cache.shared.get  # type: ignore[attr-defined]

    def counted_get(*args: Any, **kwargs: Any) -> Any:
        tries.append(args)
        return real_get(*args, **kwargs)

    monkeypatch.setattr(cache.shared, "get", counted_get)  # type: ignore[attr-defined]
    for _ in range(50):
        assert cache.get("key") == "value"
    assert tries == []  # no request waits on Redis within the retry interval
    time.sleep(RETRY_SECONDS + 0.1)
    assert cache.get("key") == "value"
    assert len(tries) == 1  # then one try, refused again: still served from memory
    assert cache.degraded  # type: ignore[attr-defined]


class TogglingProxy:
    """A TCP proxy on 127.0.0.1 in front of Redis that can be cut (every connection dropped) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = closed_port()
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []

    def up(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self) -> None:
        if self.listener is not None:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone would not
            self.listener.close()
            self.listener = None
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxied_redis(settings: Settings) -> Iterator[tuple[TogglingProxy, str]]:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI and does not answer at {REDIS_URL}: {error}")
        pytest.skip(f"no Redis at {REDIS_URL} (set REDIS_TEST_URL); CI runs this test")
    target = urlsplit(REDIS_URL)
    proxy = TogglingProxy((target.hostname or "127.0.0.1", target.port or 6379))
    proxy.up()
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.CACHES = fallback_caches(f"redis://127.0.0.1:{proxy.port}{target.path}", prefix)
    try:
        yield proxy, prefix
    finally:
        proxy.down()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}-*"):
            client.delete(key)


@pytest.mark.django_db
@pytest.mark.usefixtures("one_rate_limit_window")  # its counted attempts stay in one window, however slow the run
def test_when_redis_is_back_the_shared_counters_are_used_again_without_a_restart(
    proxied_redis: tuple[TogglingProxy, str], user: User, api_client: APIClient
) -> None:
    proxy, prefix = proxied_redis
    shared = redis.Redis.from_url(REDIS_URL)
    assert json_login(api_client, user.email, "wrong-password").status_code == 401
    assert list(shared.scan_iter(f"{prefix}-throttle:*")), "the first failure is counted in Redis"

    proxy.down()
    assert json_login(api_client, user.email, "wrong-password").status_code == 401
    assert caches["throttle"].degraded  # type: ignore[attr-defined]
    assert api_client.get("/health/ready").json()["checks"]["cache"] == "degraded"

    proxy.up()
    time.sleep(RETRY_SECONDS + 0.1)
    assert json_login(api_client, user.email, "wrong-password").status_code == 401
    assert not caches["throttle"].degraded  # type: ignore[attr-defined]
    counts = [int(shared.get(key) or 0) for key in shared.scan_iter(f"{prefix}-throttle:*")]
    assert max(counts) == 2, "Redis counted the failures before and after the outage, not the one during it"
    assert api_client.get("/health/ready").json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


def test_the_outage_is_logged_once_per_process_whatever_the_threads(
    redis_down: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Django makes a cache object per thread (a gthread worker has several): the outage is the process's."""

    def use_the_cache() -> None:
        caches["default"].set("key", "value")

    threads = [threading.Thread(target=use_the_cache) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    use_the_cache()
    assert sum("unreachable" in record.getMessage() for record in caplog.records) == 1
