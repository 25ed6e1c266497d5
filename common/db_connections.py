"""Replace a persistent database connection the server has dropped, without a round trip.

Django's `CONN_HEALTH_CHECKS` sends `SELECT 1` before the first query of every request: a round
trip that costs as much as a cheap query. An idle connection has nothing to read, so when its
socket is readable the server has spoken out of turn: it closed the connection (a restart, an
administrator's terminate, a pooler going away) and what is left to read is its farewell or the
end of the stream. Looking costs one non-blocking `select()` in this process; such a connection is
closed at the start of the request, and the request's first query opens a new one.
"""

from __future__ import annotations

import contextlib
import select
from typing import Any

from django.db import connections


def server_hung_up(raw_connection: Any) -> bool:
    """Whether the server has closed (or written to) this idle connection."""
    try:
        fileno = raw_connection.fileno()
    except Exception:  # closed or broken: nothing to reuse
        return True
    if fileno < 0:  # closed on our side
        return True
    readable, _, _ = select.select([fileno], [], [], 0)
    return bool(readable)


def close_dropped_connections(**kwargs: Any) -> None:
    """At the start of a request: close each open connection the server has let go of."""
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is None or connection.vendor != "postgresql" or connection.in_atomic_block:
            continue
        if server_hung_up(raw):
            with contextlib.suppress(Exception):
                connection.close()
