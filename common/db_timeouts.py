"""The database timeouts a piece of work runs under, on PostgreSQL.

Requests run under the connection's own `statement_timeout` and `lock_timeout` (startup options
set in `config/settings.py`; behind PgBouncer, those of its server connections). Commands that
work long on purpose run under the ones of `settings.DATABASE_COMMAND_TIMEOUTS_MS` instead, and
hand the connection back as they found it: a job worker's connection serves the next job, which
must get the usual limits again.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections


@contextmanager
def command_timeouts(kind: str, using: str = "default") -> Iterator[None]:
    """Run the block under the timeouts of `kind` ("migrate", "maintenance"); nothing on SQLite."""
    connection = connections[using]
    if connection.vendor != "postgresql" or settings.DATABASE_PGBOUNCER:
        # Through PgBouncer in transaction mode a session setting would stay on a server connection
        # that other clients get next: the limits are PgBouncer's (its connect_query). Run migrate
        # with DATABASE_URL pointing at PostgreSQL itself to get its own.
        yield
        return
    timeouts = {name: f"{int(ms)}ms" for name, ms in settings.DATABASE_COMMAND_TIMEOUTS_MS[kind].items()}
    previous = _set(connection, timeouts)
    try:
        yield
    finally:
        _restore(connection, previous)


def _set(connection: Any, values: dict[str, str]) -> dict[str, str]:
    """Set each of `values` for the session; the values they had before."""
    previous = {}
    with connection.cursor() as cursor:
        for name, value in values.items():
            # set_config() takes parameters, unlike SET; false: for the session, not the transaction.
            cursor.execute("SELECT current_setting(%s), set_config(%s, %s, false)", [name, name, value])
            previous[name] = cursor.fetchone()[0]
    return previous


def _restore(connection: Any, previous: dict[str, str]) -> None:
    """Back to what the block found (nested blocks included); a broken connection is dropped instead."""
    if connection.connection is None:
        return
    try:
        _set(connection, previous)
    except DatabaseError:
        connection.close()


def with_command_timeouts(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command's `handle` (or a job) to run under `command_timeouts(kind)`."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with command_timeouts(kind):
                return function(*args, **kwargs)

        return wrapper

    return decorate
