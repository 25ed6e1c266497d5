"""`make bench`: the API's throughput and latency under wrk, beside a bare-WSGI floor.

    .venv/bin/python bench/run.py [--duration 15] [--connections 32] [--threads 2] [--quick]

Creates a database (`bench_<pid>`, unless DATABASE_URL is set), migrates and seeds it, serves the
app with gunicorn and the production settings, and the floor (`bench/floor.py`) beside it; runs
each workload with wrk after a warm-up; counts the SQL each request sends (libpq's trace, and
Django's own log, in this process through the same WSGI stack). Two passes, each against its own
floor: every rate limit off, then production defaults (every limit on at its default, counted in
Redis; the floor then adds one Redis increment per request). Prints one table per pass; writes
`bench/results/latest.json` and `docs/bench-throughput.png`. Servers and database are removed at
the end, whatever happens. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import io
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import pq

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # import `bench.harness` from the root: in bench/, `common` is not the project's app

from bench.harness import (  # noqa: E402
    SEARCH_WORD,
    THROTTLE_VARIABLES,
    Gunicorn,
    cleanup_on_signals,
    create_database,
    drop_database,
    pick_port,
    production_env,
    say,
    seed,
    setup_django,
    token_pair,
)
from bench.wrk import CpuMeter, LuaRequest, WrkResult, lua_script, run_wrk, wait_quiet, worker_memory  # noqa: E402

out = say

RESULTS = ROOT / "bench" / "results" / "latest.json"
CHART = ROOT / "docs" / "bench-throughput.png"
TASKS_PER_USER = 1_000
# The production-defaults pass spreads its requests over this many users (each with the bench
# user's 1,000 tasks), as real traffic is: one user alone would hit the per-user limit (3000/min).
READERS = 40
LIMITS_ON = " (limits on)"
OTHER_LOAD_WARNING = 5.0  # percent of the machine's CPU used by other jobs during a run
FLOOR_NOTE = "floor: bare WSGI (psycopg 3 + orjson), same SQL, verifies the same HS256 JWT with PyJWT"
WSGI = Callable[[dict[str, Any], Callable[..., Any]], Any]


@dataclass(frozen=True)
class Workload:
    """One kind of request. `{item}` in `path` or `body` takes each of the workload's items in turn."""

    name: str
    method: str
    path: str
    body: str | None = None
    content_type: str | None = None
    user: str | None = None  # "bench", "writer": a fresh access token of that user; "readers": each in turn
    items: tuple[str, ...] = ()  # reused in a cycle
    single_use: bool = False  # items are refresh tokens, issued per run and used once each
    floor: bool = False  # also run against the floor

    def headers(self, token: str | None) -> dict[str, str]:
        headers = {"Content-Type": self.content_type} if self.content_type else {}
        return headers | ({"Authorization": f"Bearer {token}"} if token else {})


@dataclass
class Seed:
    """What the benchmark created in the database."""

    password: str
    users: dict[str, Any]  # "bench", "writer" -> accounts.models.User
    task_ids: list[int]
    readers: list[Any]  # for the production-defaults pass


@dataclass(frozen=True)
class SqlCount:
    """Statements per request: as Django logs them, and as libpq sends them (health checks included)."""

    logged: float | None
    sent: float
    statements: list[str]
    statuses: list[int]
    body: bytes  # the last answer


@dataclass
class Row:
    """One line of the table."""

    workload: str
    server: str
    wrk: WrkResult
    sql: SqlCount | None
    cpu_ms_per_request: float | None
    rss_mb: float | None
    pss_mb: float | None
    floor_percent: float | None = None
    # Percent of the machine's CPU (all cores) used during the run by the server, PostgreSQL, wrk,
    # and anything else ("other": another job, which distorts the figures).
    cpu_share: dict[str, float] = dataclass_field(default_factory=dict)
    notes: list[str] = dataclass_field(default_factory=list)

    @property
    def label(self) -> str:
        return self.workload if self.server == "app" else f"  floor: {self.workload}"


# Setup ----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of each measured run (default 15)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each run (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="3-second runs and 1-second warm-ups, for development")
    parser.add_argument("--port", type=int, default=8101, help="the app's port, or the next free one (default 8101)")
    parser.add_argument("--floor-port", type=int, default=8102, help="the floor's port (default 8102)")
    parser.add_argument("--only", nargs="+", metavar="WORKLOAD", help="run only these workloads")
    parser.add_argument(
        "--passes",
        nargs="+",
        choices=("off", "on"),
        default=["off", "on"],
        help="the passes to run: rate limits off, on at their production defaults (default both)",
    )
    parser.add_argument("--wait-idle", type=float, default=0.0, help="wait up to this many seconds for an idle machine")
    parser.add_argument(
        "--max-minutes", type=float, default=14.0, help="skip workloads that would end later (default 14)"
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS.relative_to(ROOT)})"
    )
    parser.add_argument("--chart", type=Path, default=CHART, help="chart PNG")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
    return args


def seed_bench(tag: str) -> Seed:
    """The bench user (1,000 tasks), the writer who receives the creates, and the readers (as many each)."""
    password = f"bench-{tag}-correct-horse-battery"
    users = seed(prefix=f"bench{tag}-", users=2 + READERS, tasks_per_user=TASKS_PER_USER, password=password)
    task_ids = sorted(users[0].tasks.values_list("pk", flat=True))
    return Seed(password, {"bench": users[0], "writer": users[1]}, task_ids, users[2:])


def access_token(user: Any) -> str:
    return token_pair(user)[0]


def refresh_tokens(user: Any, count: int) -> list[str]:
    """`count` refresh tokens of `user`, each in its own session (as `count` logins would make)."""
    from django.db import transaction

    with transaction.atomic():
        return [token_pair(user)[1] for _ in range(count)]


def workloads(seed: Seed) -> list[Workload]:
    """The requests measured, in the order they run (the writes last, so reads see the seed)."""
    login_form = urlencode({"username": seed.users["bench"].email, "password": seed.password})
    json_type = "application/json"
    return [
        Workload("health ready", "GET", "/health/ready"),
        Workload("me", "GET", "/api/v1/users/me", user="bench", floor=True),
        Workload("list 20", "GET", "/api/v1/tasks/", user="bench"),
        Workload("list 100", "GET", "/api/v1/tasks/?page_size=100", user="bench", floor=True),
        Workload("list status=done", "GET", "/api/v1/tasks/?status=done", user="bench"),
        Workload(f"list search={SEARCH_WORD}", "GET", f"/api/v1/tasks/?search={SEARCH_WORD}", user="bench"),
        Workload(
            "update",
            "PATCH",
            "/api/v1/tasks/{item}",
            body='{"title": "Renamed by the benchmark {item}"}',
            content_type=json_type,
            user="bench",
            items=tuple(str(task_id) for task_id in seed.task_ids),
        ),
        Workload(
            "create",
            "POST",
            "/api/v1/tasks/",
            body='{"title": "Benchmark task", "description": "Made by wrk", "priority": "high", '
            '"due_date": "2030-01-01"}',
            content_type=json_type,
            user="writer",
            floor=True,
        ),
        Workload(
            "refresh",
            "POST",
            "/api/v1/auth/refresh",
            body='{"refresh_token": "{item}"}',
            content_type=json_type,
            single_use=True,
        ),
        Workload(
            "login",
            "POST",
            "/api/v1/auth/login",
            body=login_form,
            content_type="application/x-www-form-urlencoded",
        ),
    ]


# SQL per request ------------------------------------------------------------------------------------


@contextlib.contextmanager
def libpq_trace(connection: psycopg.Connection[Any]) -> Iterator[list[str]]:
    """The statements a psycopg connection sends while the block runs, from libpq's protocol trace:
    what the server receives, including what no Python hook logs (the health check's SELECT 1)."""
    statements: list[str] = []
    with tempfile.TemporaryFile("w+b") as trace:
        connection.pgconn.trace(trace.fileno())
        connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield statements
        finally:
            connection.pgconn.untrace()
            trace.seek(0)
            for line in trace.read().decode(errors="replace").splitlines():
                # F <length> Query "<sql>", or F <length> Parse "<name>" "<sql>" <types>
                fields = line.split("\t", 3)
                text = fields[3].strip() if len(fields) == 4 and fields[0] == "F" else ""
                if text and fields[2] == "Query":
                    statements.append(text[1:-1])
                elif text and fields[2] == "Parse" and (match := re.match(r'^"[^"]*" "(.*)" \d+(?: \d+)*$', text)):
                    statements.append(match[1])


def normalize_sql(statement: str) -> str:
    """`statement` with its literal values replaced by `?`, to compare the statements of two programs."""
    statement = re.sub(r"'(?:[^']|'')*'(?:::\w+)?", "?", statement)
    statement = re.sub(r"%s|\$\d+", "?", statement)
    return re.sub(r"\b(?:\d+(?:\.\d+)?|NULL|true|false)\b", "?", statement)


def call_wsgi(
    app: WSGI, method: str, target: str, port: int, headers: dict[str, str], body: bytes
) -> tuple[int, bytes]:
    """Send one request through a WSGI app in this process; its status code and body."""
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": f"127.0.0.1:{port}",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": headers.get("Content-Type", ""),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    statuses: list[str] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    result = app(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()  # sends request_finished, as a server does
    return int(statuses[0].split()[0]), content


def count_sql(
    workload: Workload,
    app: WSGI,
    raw_connection: Callable[[], Any],
    port: int,
    seed: Seed,
    *,
    django_log: bool,
    calls: int = 3,
) -> SqlCount:
    """Send the workload's request `calls` times (after one warm-up) and count its statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    items = refresh_tokens(seed.users["bench"], calls + 1) if workload.single_use else list(workload.items)
    logged, sent, statuses, content = 0, 0, [], b""
    statements: list[str] = []
    for call in range(calls + 1):
        item = items[call % len(items)] if items else ""
        token = access_token(seed.users[workload.user]) if workload.user else None
        body = (workload.body or "").replace("{item}", item).encode()
        target, headers = workload.path.replace("{item}", item), workload.headers(token)
        if call == 0:  # warm-up: opens the connection, fills caches
            call_wsgi(app, workload.method, target, port, headers, body)
            continue
        capture = CaptureQueriesContext(connection) if django_log else contextlib.nullcontext()
        with capture as captured, libpq_trace(raw_connection()) as traced:
            status, content = call_wsgi(app, workload.method, target, port, headers, body)
        statuses.append(status)
        logged += len(captured.captured_queries) if captured is not None else 0
        sent += len(traced)
        statements = traced
    return SqlCount(
        logged=logged / calls if django_log else None,
        sent=sent / calls,
        statements=statements,
        statuses=statuses,
        body=content,
    )


def django_raw_connection() -> Any:
    """The psycopg connection under Django's default connection, opened if need be."""
    from django.db import connection

    connection.ensure_connection()
    return connection.connection


def floor_check(name: str, app: SqlCount, floor: SqlCount) -> list[str]:
    """Where the floor differs from the app: its SQL (literals and the health check aside), its answer."""
    problems = []
    app_statements = [normalize_sql(s) for s in app.statements if s != "SELECT 1"]
    floor_statements = [normalize_sql(s) for s in floor.statements]
    if app_statements != floor_statements:
        problems.append(f"{name}: the app sends {app_statements}, the floor {floor_statements}")
    answers = [json.loads(count.body) for count in (app, floor)]
    if isinstance(answers[0], dict) and "created_at" in answers[0]:  # a new row: its own id and times
        for answer in answers:
            for key in ("id", "created_at", "updated_at"):
                answer.pop(key, None)
    if answers[0] != answers[1]:
        problems.append(f"{name}: the floor's answer differs from the app's")
    return problems


# Load -----------------------------------------------------------------------------------------------


def items_file(directory: Path, name: str, items: Sequence[str]) -> Path:
    path = directory / f"{name.replace(' ', '_')}.items"
    path.write_text("".join(f"{item}\n" for item in items))
    return path


def pool_size(warmup: WrkResult | None, warmup_cpu: dict[str, float], seconds: float) -> int:
    """How many single-use tokens a phase of `seconds` needs, judged from the warm-up before it.

    The warm-up itself gets 1,000 a second. The run gets, a second, 2.5 times the warm-up's rate
    or the most the machine's cores allow at the warm-up's CPU time per request, whichever is more.
    """
    if warmup is None:
        return math.ceil(1000 * seconds)
    rate = warmup.requests_per_second
    if warmup.exhausted_threads:  # its pool was too small: the rate was higher still
        rate = 2 * (warmup.sent or warmup.requests) / warmup.seconds
    server_cpu = warmup_cpu.get("server", 0.0)
    cpu_bound = (os.cpu_count() or 1) * warmup.requests / server_cpu if server_cpu > 0 else 0.0
    return math.ceil(max(2.5 * rate, cpu_bound, 50.0) * seconds)


def load(
    workload: Workload, server: Gunicorn, seed: Seed, args: argparse.Namespace, directory: Path
) -> tuple[WrkResult, dict[str, float]]:
    """Warm up, then measure `workload` against `server`: the wrk result, and who used the CPU meanwhile."""
    items = workload.items
    if workload.user == "readers":  # a token per user, in turn; the bearer token is the item
        headers, items = workload.headers("{item}"), tuple(access_token(user) for user in seed.readers)
    else:
        headers = workload.headers(access_token(seed.users[workload.user]) if workload.user else None)
    items_path = items_file(directory, workload.name, items) if items else None

    def phase(
        name: str, seconds: float, warmup: WrkResult | None, warmup_cpu: dict[str, float]
    ) -> tuple[WrkResult, dict[str, float]]:
        path = items_path
        if workload.single_use:
            tokens = refresh_tokens(seed.users["bench"], pool_size(warmup, warmup_cpu, seconds))
            path = items_file(directory, f"{workload.name}-{name}", tokens)
        spec = LuaRequest(workload.method, workload.path, headers, workload.body, path, cycle=not workload.single_use)
        script = items_file(directory, f"{server.port}-{workload.name}-{name}", []).with_suffix(".lua")
        script.write_text(lua_script(spec, args.threads))
        wait_quiet(server)
        before = CpuMeter.read(server)
        result = run_wrk(server.url, script, duration=seconds, connections=args.connections, threads=args.threads)
        return result, CpuMeter.read(server).since(before, result.wrk_cpu_seconds)

    warmup, warmup_cpu = phase("warmup", args.warmup, None, {})
    return phase("run", args.duration, warmup, warmup_cpu)


def measure(
    workload: Workload,
    server: Gunicorn,
    kind: str,
    seed: Seed,
    args: argparse.Namespace,
    directory: Path,
    sql: SqlCount | None,
) -> Row:
    """Load `server` with `workload` and read its memory afterwards: one row of the table."""
    result, cpu = load(workload, server, seed, args, directory)
    memory = worker_memory(server)
    capacity = (os.cpu_count() or 1) * result.seconds
    row = Row(
        workload=workload.name,
        server=kind,
        wrk=result,
        sql=sql,
        cpu_ms_per_request=cpu["server"] * 1000 / result.requests if result.requests else None,
        rss_mb=sum(rss for rss, _ in memory) / len(memory) if memory else None,
        pss_mb=sum(pss or 0 for _, pss in memory) / len(memory) if memory else None,
        cpu_share={who: 100 * seconds / capacity for who, seconds in cpu.items()} if capacity else {},
    )
    if result.exhausted_threads:
        row.notes.append("token pool ran out: req/s understated")
    if result.non_2xx or result.socket_errors:
        row.notes.append(f"{result.non_2xx} non-2xx, {result.socket_errors} socket errors")
    if row.cpu_share.get("other", 0.0) > OTHER_LOAD_WARNING:
        row.notes.append(f"other jobs used {row.cpu_share['other']:.0f}% of the machine's CPU meanwhile")
    out(
        f"  {row.label:<28} {result.requests_per_second:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  non-2xx {result.non_2xx}  other load {row.cpu_share.get('other', 0):.0f}%"
    )
    return row


# Reporting ------------------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(rows: Sequence[Row]) -> str:
    """The results as one aligned text table."""
    header = (
        "workload",
        "req/s",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "SQL/req",
        "sent/req",
        "CPU ms/req",
        "RSS MB/worker",
        "other load",
        "% of floor",
    )
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.label,
                _number(row.wrk.requests_per_second),
                _number(row.wrk.p50_ms, 2),
                _number(row.wrk.p99_ms, 2),
                str(row.wrk.non_2xx + row.wrk.socket_errors),
                _number(row.sql.logged if row.sql else None, 0),
                _number(row.sql.sent if row.sql else None, 0),
                _number(row.cpu_ms_per_request, 2),
                _number(row.rss_mb),
                f"{row.cpu_share.get('other', 0.0):.0f}%",
                "" if row.floor_percent is None else f"{row.floor_percent:.0f}%",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line))
        for line in lines
    ]
    text.insert(1, "-" * len(text[0]))
    return "\n".join(text)


def code_state() -> dict[str, Any]:
    """The commit measured, and the tracked files changed since (uncommitted work is measured too)."""

    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=False).stdout

    modified = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown", "modified": modified}


def postgres_version(url: str) -> str:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory and kernel of this machine."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])  # MemTotal, its first line
    return {
        "cores": os.cpu_count(),
        "cpu_model": models[0] if models else platform.processor() or "unknown",
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def wait_until_idle(max_wait: float, max_load: float = 0.7) -> list[str]:
    """Wait up to `max_wait` seconds for a 1-minute load average under `max_load`; why it is still busy."""
    deadline = time.monotonic() + max_wait
    while load_average()[0] > max_load and time.monotonic() < deadline:
        out(f"  machine busy (1-minute load average {load_average()[0]} > {max_load}); waiting...")
        time.sleep(10)
    return [f"1-minute load average {load_average()[0]} > {max_load}"] if load_average()[0] > max_load else []


def versions(database_url: str) -> dict[str, str]:
    wrk = subprocess.run(["/usr/bin/wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    packages = ("Django", "djangorestframework", "gunicorn", "psycopg", "orjson", "PyJWT")
    return {
        "python": platform.python_version(),
        **{package: version(package) for package in packages},
        "postgresql": postgres_version(database_url),
        "wrk": wrk.strip(),
    }


def report(
    rows: Sequence[Row],
    args: argparse.Namespace,
    started: dt.datetime,
    loads: dict[str, tuple[float, float, float]],
    info: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """The JSON document of a run."""
    return {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(["bench/run.py", *sys.argv[1:]]),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "gunicorn_workers": 2,
            "rate_limits": {"limits off": dict.fromkeys(THROTTLE_VARIABLES, ""), "limits on": "production defaults"},
            "tasks_per_user": TASKS_PER_USER,
        },
        **info,
        "load_average": loads,
        "floor": FLOOR_NOTE,
        "notes": notes,
        "rows": [
            {
                "workload": row.workload,
                "server": row.server,
                **row.wrk.as_dict(),
                "sql_logged_per_request": row.sql.logged if row.sql else None,
                "sql_sent_per_request": row.sql.sent if row.sql else None,
                "sql_statements": [normalize_sql(s) for s in row.sql.statements] if row.sql else None,
                "cpu_ms_per_request": row.cpu_ms_per_request,
                "rss_mb_per_worker": row.rss_mb,
                "pss_mb_per_worker": row.pss_mb,
                "floor_percent": row.floor_percent,
                "cpu_share_percent": row.cpu_share,
                "notes": row.notes,
            }
            for row in rows
        ],
    }


def draw_chart(results: Path, chart: Path) -> None:
    try:
        from bench.chart import draw
    except ImportError as exc:  # matplotlib missing
        out(f"No chart ({exc}): pip install -r requirements/dev.txt")
        return
    draw(results, chart)
    out(f"Chart: {chart.relative_to(ROOT) if chart.is_relative_to(ROOT) else chart}")


# Main -----------------------------------------------------------------------------------------------


def production_defaults(env: dict[str, str]) -> dict[str, str]:
    """The same environment with every rate limit at its default (an unset variable), in Redis."""
    return {key: value for key, value in env.items() if key not in THROTTLE_VARIABLES}


def run_all(args: argparse.Namespace, env: dict[str, str], directory: Path, tag: str) -> None:
    """Everything between creating the database and cleaning up."""
    started = dt.datetime.now(dt.UTC)
    loads = {"start": load_average()}
    notes = [
        f"Limits off: {', '.join(f'{name}=' for name in THROTTLE_VARIABLES)} (empty).",
        f"Limits on: production defaults (those variables unset), counters in Redis ({env['REDIS_URL']}); "
        f"requests spread over {READERS} users; the floor adds one Redis round trip (INCR + EXPIRE NX).",
    ]
    out("Migrating and seeding...")
    setup_django(env)
    seed_data = seed_bench(tag)
    rows: list[Row] = []
    sql_counts: dict[str, tuple[SqlCount, SqlCount | None]] = {}
    # The floor is the least work that can answer: no access log.
    floor_env = env | {"GUNICORN_ACCESS_LOG": ""}
    passes = [
        ("off", env, floor_env),
        ("on", production_defaults(env), floor_env | {"FLOOR_REDIS_URL": env["REDIS_URL"]}),
    ]
    for name, app_env, floor_env_pass in passes:
        if name not in args.passes:
            continue
        app = Gunicorn(app_env, pick_port(args.port), directory / f"app-{name}.log")
        floor_port = pick_port(args.floor_port, avoid=(app.port,))
        floor_server = Gunicorn(
            floor_env_pass, floor_port, directory / f"floor-{name}.log", app="bench.floor:application"
        )
        try:
            app.start()
            floor_server.start()
            out(f"Rate limits {name}: app on {app.url}, floor on {floor_server.url}.")
            out(f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s after a {args.warmup:g}s warm-up:")
            rows += run_workloads(args, app, floor_server, seed_data, directory, notes, sql_counts, name == "on")
        finally:
            app.stop()
            floor_server.stop()
    loads["end"] = load_average()
    notes.append(f"Run took {(dt.datetime.now(dt.UTC) - started).total_seconds():.0f}s, setup included.")
    print_and_save(rows, args, started, loads, notes, env["DATABASE_URL"])


def run_workloads(
    args: argparse.Namespace,
    app: Gunicorn,
    floor_server: Gunicorn,
    seed_data: Seed,
    directory: Path,
    notes: list[str],
    sql_counts: dict[str, tuple[SqlCount, SqlCount | None]],
    limits_on: bool,
) -> list[Row]:
    """Each workload: its SQL counted (once for both passes), then its load against the app and,
    right after, the floor. With `limits_on`, only the workloads with a floor, each user in turn:
    refreshes and logins have limits of their own that a benchmark would only measure refusing.

    Starts no workload that would end after `args.deadline`.
    """
    from django.core.wsgi import get_wsgi_application

    app_wsgi = get_wsgi_application()
    rows: list[Row] = []
    for workload in (w for w in workloads(seed_data) if not args.only or w.name in args.only):
        if limits_on and not workload.floor:
            continue
        runs = 2 if workload.floor else 1
        if time.monotonic() + runs * (args.duration + args.warmup + 15) > args.deadline:
            out(f"  {workload.name}: skipped, it would end after the --max-minutes limit")
            continue
        if workload.name not in sql_counts:
            sql_counts[workload.name] = workload_sql(workload, app_wsgi, app.port, seed_data, notes)
        sql, floor_sql = sql_counts[workload.name]
        if limits_on:
            workload = dataclasses.replace(workload, name=workload.name + LIMITS_ON, user="readers")
        row = measure(workload, app, "app", seed_data, args, directory, sql)
        rows.append(row)
        if floor_sql is not None:
            floor_row = measure(workload, floor_server, "floor", seed_data, args, directory, floor_sql)
            rows.append(floor_row)
            if floor_row.wrk.requests_per_second:
                row.floor_percent = 100 * row.wrk.requests_per_second / floor_row.wrk.requests_per_second
    return rows


def workload_sql(
    workload: Workload, app_wsgi: WSGI, port: int, seed_data: Seed, notes: list[str]
) -> tuple[SqlCount, SqlCount | None]:
    """The SQL of one request of the app and of the floor, checked against each other."""
    from bench import floor

    sql = count_sql(workload, app_wsgi, django_raw_connection, port, seed_data, django_log=True)
    floor_sql = None
    if workload.floor:  # the same Host as the app's, so that the pages' links are the same
        floor_sql = count_sql(workload, floor.application, floor.connection, port, seed_data, django_log=False)
        notes.extend(f"Floor differs: {problem}" for problem in floor_check(workload.name, sql, floor_sql))
    for name, count in ((workload.name, sql), (f"floor {workload.name}", floor_sql)):
        if count is not None and any(not 200 <= status < 300 for status in count.statuses):
            notes.append(f"{name}: the SQL-count requests answered {count.statuses}")
    return sql, floor_sql


def print_and_save(
    rows: Sequence[Row],
    args: argparse.Namespace,
    started: dt.datetime,
    loads: dict[str, tuple[float, float, float]],
    notes: list[str],
    database_url: str,
) -> None:
    info = {"machine": machine_info(), "versions": versions(database_url), "code": code_state()}
    machine, code = info["machine"], info["code"]
    out()
    out(
        f"Tasks API benchmark {started:%Y-%m-%d %H:%M} UTC, {machine['cores']} cores ({machine['cpu_model']}); "
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s; 2 gunicorn sync workers; "
        f"load average {loads['start'][0]} before the run; "
        f"code at {code['commit']}{' with uncommitted changes' if code['modified'] else ''}"
    )
    out(f"{FLOOR_NOTE}.")
    out(
        "SQL/req: statements Django logs (CaptureQueriesContext); sent/req: statements libpq sends (its trace: "
        "adds the connection health check's SELECT 1); CPU ms/req: gunicorn master + workers; other load: "
        "share of the machine's CPU used by anything but the server, PostgreSQL and wrk (another job: distorts)."
    )
    for name, suffix in (("Rate limits off", ""), ("Production defaults (rate limits on, in Redis)", LIMITS_ON)):
        chosen = [row for row in rows if row.workload.endswith(LIMITS_ON) == bool(suffix)]
        if chosen:
            out()
            out(f"{name}:")
            out(table(chosen))
    for note in notes + [f"{row.label.strip()}: {'; '.join(row.notes)}" for row in rows if row.notes]:
        out(f"Note: {note}")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report(rows, args, started, loads, info, notes), indent=2) + "\n")
    out(f"Results: {args.results.relative_to(ROOT) if args.results.is_relative_to(ROOT) else args.results}")
    draw_chart(args.results, args.chart)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.deadline = time.monotonic() + args.max_minutes * 60
    if args.wait_idle:
        still_busy = wait_until_idle(args.wait_idle)
        if still_busy:
            out(f"Warning: the machine is not idle, timings will be distorted: {'; '.join(still_busy)}")
    out(f"Load average: {' '.join(map(str, load_average()))}")
    tag = str(os.getpid())
    given_url = os.environ.get("DATABASE_URL", "")
    database = "" if given_url else f"bench_{tag}"
    directory = Path(tempfile.mkdtemp(prefix="bench-"))
    with cleanup_on_signals():
        try:
            url = given_url or create_database(database)
            run_all(args, production_env(url), directory, tag)
        finally:
            out("Cleaning up...")
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            if database:
                drop_database(database)
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
