"""Rate limits hold when several processes share Redis, as gunicorn workers and machines do."""

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")

# One process making failed-login attempts against one account, through the app's own throttle.
ATTEMPTS = textwrap.dedent(
    """
    import os, sys
    import django

    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    django.setup()
    from django.conf import settings

    settings.CACHES["throttle"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": sys.argv[1],
        "KEY_PREFIX": sys.argv[2],
    }
    from accounts.throttling import LoginFailureThrottle

    allowed = 0
    for _ in range(int(sys.argv[3])):
        if LoginFailureThrottle(email="victim@example.com", address="203.0.113.9").attempt() is None:
            allowed += 1
    print(allowed)
    """
)


@pytest.fixture
def redis_url() -> str:
    """The test Redis, which CI always has; elsewhere the test is skipped when none is running."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI and does not answer at {REDIS_URL}: {error}")
        pytest.skip(f"no Redis at {REDIS_URL} (set REDIS_TEST_URL); CI runs this test")
    return REDIS_URL


def run_in_parallel(url: str, prefix: str, processes: int, attempts: int) -> list[int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    running = [
        subprocess.Popen(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "-c", ATTEMPTS, url, prefix, str(attempts)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for process in running:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        results.append(int(out.strip()))
    return results


def test_failed_login_limit_holds_across_two_processes_sharing_redis(redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    allowed = run_in_parallel(redis_url, prefix, processes=2, attempts=8)
    # 16 attempts in all, 10 allowed by THROTTLE_LOGIN_FAILURES: each process alone would allow 8.
    assert sum(allowed) == 10
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.mark.django_db
def test_the_admin_login_shares_the_apis_counters_across_processes(redis_url: str, settings: Settings) -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    # Another process spends 8 of the 10 failures this account and address may have...
    assert run_in_parallel(redis_url, prefix, processes=1, attempts=8) == [8]
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
        },
    }
    admin_site = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [
        admin_site.post("/admin/login/", {"username": "victim@example.com", "password": "guess"}).status_code
        for _ in range(3)
    ]
    # ...so the admin site allows this one 2 more.
    assert statuses == [200, 200, 429]
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.mark.django_db
def test_a_rate_limited_request_costs_one_round_trip_to_redis(
    redis_url: str, settings: Settings, user_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {"BACKEND": "common.cache.FallbackRedisCache", "LOCATION": redis_url, "KEY_PREFIX": prefix},
    }
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user": "3/min"}
    round_trips: list[str] = []
    command, pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute

    def counted_command(self: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        round_trips.append(str(args[0]))
        return command(self, *args, **kwargs)

    def counted_pipeline(self: redis.client.Pipeline, *args: Any, **kwargs: Any) -> Any:
        round_trips.append("pipeline")
        return pipeline(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", counted_command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", counted_pipeline)
    assert user_client.get("/api/v1/users/me").status_code == 200
    assert round_trips == ["pipeline"]
    # The counter counts, expires after its window, and the limit still refuses the fourth request.
    client = redis.Redis.from_url(redis_url)
    (key,) = client.scan_iter(f"{prefix}:*")
    assert client.get(key) == b"1"
    assert 0 < client.ttl(key) <= 61
    assert [user_client.get("/api/v1/users/me").status_code for _ in range(3)] == [200, 200, 429]
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
