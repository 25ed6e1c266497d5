"""A persistent database connection the server dropped is replaced before the request uses it.

Without Django's per-request `SELECT 1` (CONN_HEALTH_CHECKS), the first request after a database
restart would fail on its first query; `common.db_connections` looks at the socket instead.
"""

import socket
import time

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from common.db_connections import server_hung_up


def test_an_idle_connection_is_kept_and_one_the_peer_closed_is_not() -> None:
    ours, theirs = socket.socketpair()
    try:
        assert not server_hung_up(ours)
        theirs.close()
        assert server_hung_up(ours)
    finally:
        ours.close()
    assert server_hung_up(ours)  # closed on our side: nothing to reuse either


def test_production_settings_send_no_health_check_query_per_request() -> None:
    assert settings.DATABASES["default"].get("CONN_HEALTH_CHECKS", False) is False


# Behind PgBouncer the app's socket is to the pooler, which replaces a dropped server connection
# itself; the pass through PgBouncer deselects this test (see conftest.py).
@pytest.mark.direct_connection
@pytest.mark.django_db(transaction=True)
def test_a_request_after_the_database_dropped_the_connection_is_served(user_client: APIClient) -> None:
    assert user_client.get("/api/v1/users/me").status_code == 200
    connection.ensure_connection()
    if connection.vendor != "postgresql":  # SQLite: no server to drop it; the same connection serves
        before = connection.connection
        assert user_client.get("/api/v1/users/me").status_code == 200
        assert connection.connection is before
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    _terminate(pid)
    response = user_client.get("/api/v1/users/me")
    assert response.status_code == 200, response.content


def _terminate(pid: int) -> None:
    """Have the server end backend `pid`, from a connection of its own, and wait until it is gone."""
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["dbname"] = params.pop("dbname", None) or params.pop("database", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(50):
            if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() is None:
                return
            time.sleep(0.02)
