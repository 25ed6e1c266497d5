"""No request is held by a lock: PostgreSQL's statement and lock timeouts, and the 503 they answer.

The live tests lock rows and tables from a second session, so they need PostgreSQL (the first
pass of `.ci/run`); SQLite has no such timeouts and keeps its own lock wait (see the settings).
"""

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connection
from psycopg import errors as pg_errors
from rest_framework.test import APIClient

from accounts.models import User
from common.db_timeouts import command_timeouts
from common.exceptions import database_unavailable_reason
from tasks.models import Task
from tests.factories import TaskFactory
from tests.test_settings import load_settings

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's lock and statement timeouts: the PostgreSQL pass runs this"
)
needs_session_settings = pytest.mark.skipif(
    settings.DATABASE_PGBOUNCER,
    reason="through PgBouncer in transaction mode the app sets no session setting (the limits are PgBouncer's)",
)
LOCK_TIMEOUT_SECONDS = 2.0  # DATABASE_LOCK_TIMEOUT_MS's default


def test_postgresql_connections_carry_both_timeouts_and_sqlite_is_untouched() -> None:
    postgres = load_settings(
        {"DEBUG": "true", "DATABASE_URL": "postgres://app:pw@db:5432/app"}, "s.DATABASES['default']['OPTIONS']"
    )
    assert "'options': '-c statement_timeout=5000 -c lock_timeout=2000'" in postgres.stdout, postgres.stderr
    tuned = load_settings(
        {
            "DEBUG": "true",
            "DATABASE_URL": "postgres://app:pw@db:5432/app",
            "DATABASE_STATEMENT_TIMEOUT_MS": "900",
            "DATABASE_LOCK_TIMEOUT_MS": "300",
        },
        "s.DATABASES['default']['OPTIONS']['options']",
    )
    assert tuned.stdout.strip() == "'-c statement_timeout=900 -c lock_timeout=300'"
    pgbouncer = load_settings(
        {"DEBUG": "true", "DATABASE_URL": "postgres://app:pw@pgbouncer:6432/app", "DATABASE_PGBOUNCER": "true"},
        "s.DATABASES['default']['OPTIONS']",
    )
    assert "statement_timeout" not in pgbouncer.stdout, "PgBouncer refuses startup options"
    sqlite = load_settings({"DEBUG": "true"}, "s.DATABASES['default']['OPTIONS']")
    assert "statement_timeout" not in sqlite.stdout
    assert "'timeout': 20" in sqlite.stdout


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (pg_errors.LockNotAvailable("canceling statement due to lock timeout"), "lock timeout"),
        (pg_errors.QueryCanceled("canceling statement due to statement timeout"), "statement timeout"),
        (psycopg.OperationalError("connection refused"), "unreachable"),
    ],
)
def test_a_stopped_statement_is_told_apart_from_an_unreachable_database(cause: Exception, reason: str) -> None:
    error = OperationalError(str(cause))
    error.__cause__ = cause
    assert database_unavailable_reason(error) == reason
    assert database_unavailable_reason(ValueError("not a database error")) is None


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return str(cursor.fetchone()[0])


@pytest.fixture
def other_session() -> Iterator[psycopg.Connection[Any]]:
    """A second session on the test database, as another process (a migration, a long job) would hold."""
    params = connection.settings_dict
    session = psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
    )
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@needs_postgresql
@pytest.mark.django_db
def test_requests_run_under_the_configured_timeouts() -> None:
    assert (_setting("statement_timeout"), _setting("lock_timeout")) == ("5s", "2s")


@needs_postgresql
@needs_session_settings
@pytest.mark.django_db
def test_commands_set_their_own_timeouts_and_give_the_connection_back_as_found() -> None:
    with command_timeouts("migrate"):
        assert (_setting("statement_timeout"), _setting("lock_timeout")) == ("0", "10s")
        with command_timeouts("maintenance"):
            assert _setting("statement_timeout") == "5min"
        assert _setting("statement_timeout") == "0"
    assert (_setting("statement_timeout"), _setting("lock_timeout")) == ("5s", "2s")


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_write_waiting_on_a_locked_row_answers_503_within_the_lock_timeout(
    user: User, user_client: APIClient, other_session: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    task = TaskFactory.create(owner=user, title="before")
    other_session.execute("SELECT id FROM tasks_task WHERE id = %s FOR UPDATE", [task.pk])

    started = time.monotonic()
    response = user_client.patch(f"/api/v1/tasks/{task.pk}/", {"title": "after"}, format="json")
    waited = time.monotonic() - started

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert int(response["Retry-After"]) > 0
    # The lock is held until this test releases it: an answer at all means the wait was cut short.
    assert waited >= LOCK_TIMEOUT_SECONDS * 0.95
    assert "Database unavailable (lock timeout)" in caplog.text
    other_session.rollback()
    assert Task.objects.get(pk=task.pk).title == "before"
    assert user_client.patch(f"/api/v1/tasks/{task.pk}/", {"title": "after"}, format="json").status_code == 200


@needs_postgresql
@needs_session_settings
@pytest.mark.django_db(transaction=True)
def test_a_statement_stopped_by_the_statement_timeout_answers_503_and_writes_nothing(
    user: User, user_client: APIClient, other_session: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    task = TaskFactory.create(owner=user, title="before")
    other_session.execute("SELECT id FROM tasks_task WHERE id = %s FOR UPDATE", [task.pk])
    with connection.cursor() as cursor:  # the request's connection: no lock limit, a short statement limit
        cursor.execute("SET lock_timeout = 0")
        cursor.execute("SET statement_timeout = 300")
    try:
        response = user_client.put(f"/api/v1/tasks/{task.pk}/", {"title": "after", "status": "done"}, format="json")
    finally:
        # Back to the connection's own limits: the test database's flush after this test uses it too.
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
            cursor.execute("RESET statement_timeout")

    assert response.status_code == 503
    assert response["Retry-After"]
    assert "Database unavailable (statement timeout)" in caplog.text
    other_session.rollback()
    stored = Task.objects.get(pk=task.pk)
    assert (stored.title, stored.status, stored.completed_at) == ("before", "todo", None)
    assert (_setting("statement_timeout"), _setting("lock_timeout")) == ("5s", "2s")


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_locked_tasks_table_leaves_the_rest_of_the_api_answering(
    user: User, user_client: APIClient, other_session: psycopg.Connection[Any]
) -> None:
    other_session.execute("LOCK TABLE tasks_task IN ACCESS EXCLUSIVE MODE")

    # The lock is held until this test releases it, so every answer below came while it was held.
    assert user_client.get("/api/v1/users/me").status_code == 200
    assert user_client.get("/health/live").status_code == 200
    assert user_client.post("/api/v1/tasks/", {"title": "queued behind a lock"}, format="json").status_code == 503

    other_session.rollback()
    assert user_client.post("/api/v1/tasks/", {"title": "after the lock"}, format="json").status_code == 201
    assert list(Task.objects.values_list("title", flat=True)) == ["after the lock"]
