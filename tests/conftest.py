import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import issue_token_pair
from common import throttling
from tests.factories import AdminFactory, UserFactory


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of one database's behaviour run in that database's pass only: deselected elsewhere.

    `.ci/run` runs the suite on PostgreSQL, on SQLite and through PgBouncer, so each of these tests
    runs in a pass that has what it tests.
    """
    unfit = set()
    if connection.vendor != "postgresql":
        unfit.add("postgresql")
    if settings.DATABASE_PGBOUNCER:
        unfit.update({"session_settings", "direct_connection"})
    if not unfit:
        return
    deselected = [item for item in items if unfit & {mark.name for mark in item.iter_markers()}]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test starts with no cached values and no rate-limit counts left by another."""
    for cache in caches.all(initialized_only=True):
        cache.clear()


@pytest.fixture
def one_rate_limit_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attempt of a test falls in one rate-limit window (the first second of an hour), however
    slow the machine: the counters use fixed windows, and one crossing its end would count afresh."""
    start = time.time() // 3600 * 3600 + 1
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: start))


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(db: None) -> Callable[[User], APIClient]:
    """An API client that sends a fresh access token for `user`."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token_pair(user).access_token}")
        return client

    return make


@pytest.fixture
def user(db: None) -> User:
    return UserFactory.create()


@pytest.fixture
def other_user(db: None) -> User:
    return UserFactory.create()


@pytest.fixture
def admin_user(db: None) -> User:
    return AdminFactory.create()


@pytest.fixture
def user_client(client_for: Callable[[User], APIClient], user: User) -> APIClient:
    return client_for(user)


@pytest.fixture
def admin_client(client_for: Callable[[User], APIClient], admin_user: User) -> APIClient:
    return client_for(admin_user)
