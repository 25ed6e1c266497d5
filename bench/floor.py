"""The floor of `make bench`: the least work that answers three of its requests, as a bare WSGI app
(psycopg 3, orjson, PyJWT), sending exactly the app's SQL and giving its JSON (`bench/run.py` checks
both each run); with FLOOR_REDIS_URL, one Redis increment per request too. See bench/README.md.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

import jwt
import orjson
import psycopg
import redis

USER_SQL = (
    'SELECT "accounts_user"."id", "accounts_user"."password", "accounts_user"."last_login", "accounts_user"."email", '
    '"accounts_user"."full_name", "accounts_user"."role", "accounts_user"."is_active", '
    '"accounts_user"."date_joined", "accounts_user"."token_version", "accounts_user"."email_verified_at", '
    '"accounts_user"."deletion_requested_at", "accounts_user"."welcome_email_sent_at", '
    '"accounts_user"."welcome_email_claimed_at", EXISTS(SELECT 1 AS "a" FROM '
    '"accounts_refreshtokenfamily" "U0" WHERE ("U0"."expires_at" > %s AND "U0"."revoked_at" IS NULL AND '
    '"U0"."id" = %s AND "U0"."user_id" = ("accounts_user"."id")) LIMIT 1) AS "session_live" FROM "accounts_user" '
    'WHERE "accounts_user"."id" = %s ORDER BY "accounts_user"."id" ASC LIMIT 1'
)
COUNT_SQL = 'SELECT COUNT(*) AS "__count" FROM "tasks_task" WHERE "tasks_task"."owner_id" = %s'
PAGE_SQL = (
    'SELECT "tasks_task"."id", "tasks_task"."title", "tasks_task"."description", "tasks_task"."status", '
    '"tasks_task"."priority", "tasks_task"."due_date", "tasks_task"."owner_id", "tasks_task"."created_at", '
    '"tasks_task"."updated_at", "tasks_task"."completed_at", "tasks_task"."version" FROM "tasks_task" '
    'WHERE "tasks_task"."owner_id" = %s '
    'ORDER BY "tasks_task"."created_at" DESC, "tasks_task"."id" DESC LIMIT %s'
)
INSERT_SQL = (
    'INSERT INTO "tasks_task" ("title", "description", "status", "priority", "due_date", "owner_id", "created_at", '
    '"updated_at", "completed_at", "version") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) '
    'RETURNING "tasks_task"."id", "tasks_task"."version"'
)
# The columns of a task row, as the app's serializer names them (a page's rows end with the version, not shown).
TASK_FIELDS: tuple[str, ...] = ("id", "title", "description", "status", "priority", "due_date", "owner")
TASK_FIELDS += ("created_at", "updated_at", "completed_at")
PRIORITIES = {"low": 1, "medium": 2, "high": 3}
PRIORITY_NAMES = {number: name for name, number in PRIORITIES.items()}

JWT_KEY = os.environ.get("JWT_SECRET_KEY", "")
JWT_ISSUER = os.environ.get("JWT_ISSUER") or "tasks-api"
JWT_AUDIENCE = os.environ.get("JWT_AUDIENCE") or "tasks-api"
JWT_LEEWAY = min(int(os.environ.get("JWT_LEEWAY_SECONDS") or 2), 5)

REDIS_URL = os.environ.get("FLOOR_REDIS_URL", "")
_redis = redis.Redis.from_url(REDIS_URL) if REDIS_URL else None

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_connection: psycopg.Connection[Any] | None = None


class HTTPError(Exception):
    """An error answer: its args are the status line and the error code."""


def connection() -> psycopg.Connection[Any]:
    """This worker's connection, opened on first use (after gunicorn forked the worker)."""
    global _connection
    if _connection is None or _connection.closed or _connection.broken:
        _connection = psycopg.connect(
            os.environ["DATABASE_URL"], autocommit=True, cursor_factory=psycopg.ClientCursor, options="-c TimeZone=UTC"
        )
    return _connection


def authenticate(environ: dict[str, Any]) -> tuple[Any, ...]:
    """The caller's user row, from a valid access token whose user is active and not revoked."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        raise HTTPError("401 Unauthorized", "not_authenticated")
    try:
        claims = jwt.decode(
            header[7:], JWT_KEY, algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER, leeway=JWT_LEEWAY
        )
        if claims.get("token_type") != "access" or "jti" not in claims or "sid" not in claims:
            raise jwt.InvalidTokenError
        user_id = int(claims["user_id"])
    except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
        raise HTTPError("401 Unauthorized", "token_not_valid") from exc
    if _redis is not None:  # the least a shared per-user rate limit costs: one round trip
        key = f"floor:user:{user_id}:{int(time.time() // 60)}"
        pipe = _redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 61, nx=True)
        pipe.execute()
    now = dt.datetime.now(dt.UTC)
    user = connection().execute(USER_SQL, (now, claims["sid"], user_id)).fetchone()
    # session_live is the last column; is_active and token_version stand at 6 and 8.
    if user is None or not user[-1] or not user[6] or claims.get("ver") != user[8]:
        raise HTTPError("401 Unauthorized", "token_not_valid")
    return user


def task_json(row: tuple[Any, ...]) -> dict[str, Any]:
    task = dict(zip(TASK_FIELDS, row, strict=False))
    return task | {"priority": PRIORITY_NAMES[task["priority"]]}


def me(environ: dict[str, Any], user: tuple[Any, ...]) -> tuple[str, Any]:
    keys = ("id", "email", "full_name", "role", "is_active", "email_verified_at", "date_joined", "last_login")
    values = (user[0], user[3], user[4], user[5], user[6], user[9], user[7], user[2])
    return "200 OK", dict(zip(keys, values, strict=True))


def task_list(environ: dict[str, Any], user: tuple[Any, ...]) -> tuple[str, Any]:
    """The first page (the only one the benchmark asks for)."""
    size = min(int(parse_qs(environ.get("QUERY_STRING", "")).get("page_size", ["20"])[0]), 100)
    (count,) = connection().execute(COUNT_SQL, (user[0],)).fetchone() or (0,)
    rows = connection().execute(PAGE_SQL, (user[0], size)).fetchall()
    base = f"http://{environ.get('HTTP_HOST', 'localhost')}{environ['PATH_INFO']}"
    return "200 OK", {
        "count": count,
        "next": f"{base}?page=2&page_size={size}" if size < count else None,
        "previous": None,
        "results": [task_json(row) for row in rows],
    }


def task_create(environ: dict[str, Any], user: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        data = orjson.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        title, description = data["title"], data.get("description", "")
        status, priority = data.get("status", "todo"), PRIORITIES[data.get("priority", "medium")]
        due_date = dt.date.fromisoformat(data["due_date"]) if data.get("due_date") else None
        valid = isinstance(title, str) and 0 < len(title) <= 200 and isinstance(description, str)
        if not valid or status not in ("todo", "in_progress", "done"):
            raise ValueError
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise HTTPError("400 Bad Request", "invalid") from exc
    now = dt.datetime.now(dt.UTC)
    values = (title, description, status, priority, due_date, user[0], now, now, now if status == "done" else None)
    task_id, _version = connection().execute(INSERT_SQL, (*values, 1)).fetchone() or (None, None)
    return "201 Created", task_json((task_id, *values))


ROUTES: dict[tuple[str, str], Callable[[dict[str, Any], tuple[Any, ...]], tuple[str, Any]]] = {
    ("GET", "/api/v1/users/me"): me,
    ("GET", "/api/v1/tasks/"): task_list,
    ("POST", "/api/v1/tasks/"): task_create,
}


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The WSGI entry point."""
    key = (environ["REQUEST_METHOD"], environ["PATH_INFO"])
    try:
        if key == ("GET", "/health/ready"):  # what gunicorn's start waits for
            status, data = "200 OK", {"status": "ok"}
        elif key in ROUTES:
            status, data = ROUTES[key](environ, authenticate(environ))
        else:
            raise HTTPError("404 Not Found", "not_found")
    except HTTPError as exc:
        status, code = exc.args
        data = {"detail": code, "code": code}
    body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
