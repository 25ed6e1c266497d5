"""`make bench`: the API's throughput and latency under wrk, beside a bare-WSGI floor (`bench/floor.py`).

Two passes (rate limits off; production defaults), one table each; writes `bench/results/latest.json`
and `docs/bench-throughput.png`. Options, what is measured and how: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import wsgiref.util
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from psycopg import pq

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # import `bench.harness` from the root: in bench/, `common` is not the project's app

from bench import harness  # noqa: E402
from bench.harness import Gunicorn, say, token_pair  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "latest.json"
CHART = ROOT / "docs" / "bench-throughput.png"
TASKS_PER_USER = 1_000
READERS = 40  # the production-defaults pass's users: one alone would meet the per-user limit (3000/min)
LIMITS_ON = " (limits on)"
OTHER_LOAD_WARNING = 5.0  # percent of the machine's CPU used by other jobs during a run
FLOOR_NOTE = "floor: bare WSGI (psycopg 3 + orjson), same SQL, verifies the same HS256 JWT with PyJWT"
TICKS = os.sysconf("SC_CLK_TCK")
WSGI = Callable[[dict[str, Any], Callable[..., Any]], Any]
Row = dict[str, Any]  # one line of a table, and of the results' "rows"

# wrk's script; the request comes in BENCH_* variables. "{item}" in it takes each line of the thread's
# own file of items (BENCH_ITEMS.<thread id>) in turn. With BENCH_ONCE=1 they are single use: a thread
# that has sent them all stops (the result says so) rather than send one twice.
LUA = r"""
local env = os.getenv
local method, path, body, once = env("BENCH_METHOD"), env("BENCH_PATH"), env("BENCH_BODY"), env("BENCH_ONCE") == "1"
local headers, threads, items, index = {}, {}, {}, 0
for name, value in env("BENCH_HEADERS"):gmatch("([^\n:]+): ([^\n]*)") do headers[name] = value end
exhausted, sent = 0, 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(env("BENCH_ITEMS") .. "." .. id) do items[#items + 1] = line end
end
local function fill(text, item)
  return (text:gsub("{item}", function() return item end))
end
function request()
  index = index + 1
  if index > #items then
    if once then
      exhausted = 1
      wrk.thread:stop()
      return wrk.format("GET", "/health/live")
    end
    index = 1
  end
  local item, filled = items[index], {}
  for name, value in pairs(headers) do filled[name] = fill(value, item) end
  sent = sent + 1
  return wrk.format(method, fill(path, item), filled, body ~= "" and fill(body, item) or nil)
end
function done(summary, latency)
  local exhausted_threads, total_sent, e = 0, 0, summary.errors
  for _, thread in ipairs(threads) do
    exhausted_threads = exhausted_threads + thread:get("exhausted")
    total_sent = total_sent + thread:get("sent")
  end
  io.write(string.format('BENCH_RESULT {"seconds": %f, "requests": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_ms": %f, "p90_ms": %f, "p99_ms": %f, "sent": %d, "exhausted_threads": %d}\n',
    summary.duration / 1e6, summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    total_sent, exhausted_threads))
end
"""


@dataclass(frozen=True)
class Workload:
    """One kind of request. `{item}` in `path` or `body` takes each of `items` in turn."""

    name: str
    method: str
    path: str
    body: str = ""
    content_type: str = ""
    user: str = ""  # "bench", "writer": a fresh access token of that user; "readers": each in turn
    items: tuple[str, ...] = ()
    single_use: bool = False  # items are refresh tokens, issued per run and sent once each
    floor: bool = False  # also run against the floor

    def headers(self, token: str) -> dict[str, str]:
        headers = {"Content-Type": self.content_type} if self.content_type else {}
        return headers | ({"Authorization": f"Bearer {token}"} if token else {})


@dataclass
class Seed:
    password: str
    users: dict[str, Any]  # "bench", "writer" -> accounts.models.User
    readers: list[Any]


@dataclass(frozen=True)
class SqlCount:
    logged: float | None  # per request, as Django logs them (None for the floor)
    sent: float  # per request, as libpq sends them
    statements: list[str]  # those of the last request
    body: bytes  # the last answer


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="make bench: throughput and latency under wrk, beside a floor")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of each measured run (default 15)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each run (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="3-second runs and 1-second warm-ups, for development")
    parser.add_argument("--port", type=int, default=8101, help="the app's port, or the next free one (default 8101)")
    parser.add_argument("--floor-port", type=int, default=8102, help="the floor's port (default 8102)")
    parser.add_argument("--only", nargs="+", metavar="WORKLOAD", help="run only these workloads")
    parser.add_argument("--passes", nargs="+", choices=("off", "on"), default=["off", "on"], help="rate limits off, on")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
    return args


def refresh_tokens(user: Any, count: int) -> list[str]:
    """`count` refresh tokens of `user`, each in its own session (as `count` logins would make)."""
    from django.db import transaction

    with transaction.atomic():
        return [token_pair(user)[1] for _ in range(count)]


def workloads(seed: Seed) -> list[Workload]:
    """The requests measured, in the order they run (the writes last, so that reads see the seed)."""
    login_form = urlencode({"username": seed.users["bench"].email, "password": seed.password})
    task_ids = tuple(str(pk) for pk in sorted(seed.users["bench"].tasks.values_list("pk", flat=True)))
    new_task = '{"title": "Benchmark task", "description": "Made by wrk", "priority": "high", "due_date": "2030-01-01"}'
    rename, refresh = '{"title": "Renamed by the benchmark {item}"}', '{"refresh_token": "{item}"}'
    json_type, form_type, search = "application/json", "application/x-www-form-urlencoded", harness.SEARCH_WORD
    return [
        Workload("health ready", "GET", "/health/ready"),
        Workload("me", "GET", "/api/v1/users/me", user="bench", floor=True),
        Workload("list 20", "GET", "/api/v1/tasks/", user="bench"),
        Workload("list 100", "GET", "/api/v1/tasks/?page_size=100", user="bench", floor=True),
        Workload("list status=done", "GET", "/api/v1/tasks/?status=done", user="bench"),
        Workload(f"list search={search}", "GET", f"/api/v1/tasks/?search={search}", user="bench"),
        Workload("update", "PATCH", "/api/v1/tasks/{item}", rename, json_type, "bench", task_ids),
        Workload("create", "POST", "/api/v1/tasks/", new_task, json_type, "writer", floor=True),
        Workload("refresh", "POST", "/api/v1/auth/refresh", refresh, json_type, single_use=True),
        Workload("login", "POST", "/api/v1/auth/login", login_form, form_type),
    ]


# SQL per request, and the floor's check -----------------------------------------------------------


@contextlib.contextmanager
def libpq_trace(connection: psycopg.Connection[Any]) -> Iterator[list[str]]:
    """The statements a connection sends while the block runs, from libpq's protocol trace: what the
    server receives, including what no Python hook logs (the connection health check's SELECT 1)."""
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


def call_wsgi(app: WSGI, method: str, target: str, headers: dict[str, str], body: str) -> tuple[int, bytes]:
    """Send one request through a WSGI app in this process; its status code and body."""
    path, _, query = target.partition("?")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": "127.0.0.1"}
    environ |= {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    environ |= {"CONTENT_LENGTH": str(len(body.encode())), "CONTENT_TYPE": headers.get("Content-Type", "")}
    wsgi_environ: dict[str, Any] = environ | {"wsgi.input": io.BytesIO(body.encode())}
    wsgiref.util.setup_testing_defaults(wsgi_environ)  # the rest: host 127.0.0.1, the wsgi.* keys
    statuses: list[str] = []
    result = app(wsgi_environ, lambda status, response_headers, exc_info=None: statuses.append(status))
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()  # sends request_finished, as a server does
    return int(statuses[0].split()[0]), content


def django_connection() -> Any:
    """The psycopg connection under Django's default connection, opened if need be."""
    from django.db import connection

    connection.ensure_connection()
    return connection.connection


def count_sql(
    workload: Workload, app: WSGI, raw_connection: Callable[[], Any], seed: Seed, notes: list[str]
) -> SqlCount:
    """Send the workload's request three times (after one warm-up) and count its statements; Django's
    log of them is read too for the app (when `raw_connection` is Django's)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    django_log, calls = raw_connection is django_connection, 3
    items = refresh_tokens(seed.users["bench"], calls + 1) if workload.single_use else workload.items
    logged, sent, content = 0, 0, b""
    statuses: list[int] = []
    statements: list[str] = []
    for call in range(calls + 1):
        item = items[call % len(items)] if items else ""
        headers = workload.headers(token_pair(seed.users[workload.user])[0] if workload.user else "")
        target, body = workload.path.replace("{item}", item), workload.body.replace("{item}", item)
        request = (workload.method, target, headers, body)
        if call == 0:  # warm-up: opens the connection, fills caches
            call_wsgi(app, *request)
            continue
        capture = CaptureQueriesContext(connection) if django_log else contextlib.nullcontext()
        with capture as captured, libpq_trace(raw_connection()) as traced:
            status, content = call_wsgi(app, *request)
        statements = traced
        statuses.append(status)
        logged += len(captured.captured_queries) if captured is not None else 0
        sent += len(statements)
    if any(not 200 <= status < 300 for status in statuses):
        notes.append(f"{'' if django_log else 'floor '}{workload.name}: the SQL-count requests answered {statuses}")
    return SqlCount(logged / calls if django_log else None, sent / calls, statements, content)


def floor_differences(name: str, app: SqlCount, floor: SqlCount) -> list[str]:
    """Where the floor differs from the app: its SQL (literals and the health check aside), its answer
    (but a new row's own id and times)."""
    problems = []
    app_statements = [normalize_sql(s) for s in app.statements if s != "SELECT 1"]
    floor_statements = [normalize_sql(s) for s in floor.statements]
    if app_statements != floor_statements:
        problems.append(f"Floor differs: {name}: the app sends {app_statements}, the floor {floor_statements}")
    answers = [json.loads(count.body) for count in (app, floor)]
    if "created_at" in answers[0]:
        answers = [
            {key: answer[key] for key in answer if key not in ("id", "created_at", "updated_at")} for answer in answers
        ]
    if answers[0] != answers[1]:
        problems.append(f"Floor differs: {name}: the floor's answer differs from the app's")
    return problems


# Load, and what the server spent on it ------------------------------------------------------------


def run_wrk(url: str, request: dict[str, str], seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    """One wrk run of the request in `BENCH_*` variables (30 s timeout: slow answers are measured, not
    dropped): wrk's figures, with its own CPU time (on a small machine it competes with the server)."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--timeout=30s"]
    command += ["-s", str(Path(request["BENCH_ITEMS"]).parent / "bench.lua"), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child that ends meanwhile
    try:
        done = subprocess.run(command, env=os.environ | request, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired as exc:
        raise harness.BenchError(f"wrk did not end in {seconds + 60:g} s") from exc
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if done.returncode != 0 or not lines:
        raise harness.BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = json.loads(lines[0].removeprefix("BENCH_RESULT "))
    result["requests_per_second"] = result["requests"] / result["seconds"] if result["seconds"] else 0.0
    result["wrk_cpu_seconds"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return result


def proc_stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command: [1] parent, [11:13] own CPU, [13:15] reaped children's."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    with contextlib.suppress(OSError, ValueError):  # gone meanwhile
        return sum(int(ticks) for ticks in proc_stat(pid)[11 : 15 if reaped_children else 13]) / TICKS
    return 0.0


def server_cpu(server: Gunicorn) -> float:
    """CPU time of the master and every worker so far, recycled workers included."""
    master = server.process.pid if server.process else 0
    return cpu_seconds(master, reaped_children=True) + sum(cpu_seconds(pid) for pid in server.worker_pids())


def cpu_use(server: Gunicorn) -> dict[str, float]:
    """CPU time so far of the machine (all cores, since boot), PostgreSQL (every process; the postmaster's
    reaped children are its exited backends) and the server."""
    busy = [int(ticks) for ticks in Path("/proc/stat").read_text().split()[1:9]]
    parents = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                parents[int(entry.name)] = int(proc_stat(entry.name)[1])
    return {
        "machine": (sum(busy) - busy[3] - busy[4]) / TICKS,  # all but idle and iowait
        "postgres": sum(cpu_seconds(pid, reaped_children=parent not in parents) for pid, parent in parents.items()),
        "server": server_cpu(server),
    }


def wait_quiet(server: Gunicorn, max_wait: float = 60.0, window: float = 0.5) -> None:
    """Wait until the server stops using CPU: after wrk stops, a sync worker still answers every
    connection left in its listen queue (for logins, seconds of work the next run would be charged)."""
    started, workers, before = time.monotonic(), max(1, len(server.worker_pids())), server_cpu(server)
    while time.monotonic() - started < max_wait:
        time.sleep(window)
        after = server_cpu(server)
        if after - before < 0.02 * window * workers:
            return
        before = after


def worker_memory(server: Gunicorn, kind: str) -> float | None:
    """The workers' mean RSS, or PSS (shared pages split between sharers), in MB."""
    sizes = []
    for pid in server.worker_pids():
        with contextlib.suppress(OSError, StopIteration):
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            sizes.append(next(int(line.split()[1]) for line in lines if line.startswith(f"{kind}:")) / 1024)
    return sum(sizes) / len(sizes) if sizes else None


def pool_size(warmup: dict[str, Any], warmup_cpu: dict[str, float], seconds: float) -> int:
    """How many single-use tokens a phase of `seconds` needs: the warm-up gets 1,000 a second; the run,
    2.5 times the warm-up's rate or what the cores allow at the warm-up's CPU time per request if more."""
    if not warmup:
        return math.ceil(1000 * seconds)
    rate = warmup["requests_per_second"]
    if warmup["exhausted_threads"]:  # its pool was too small: the rate was higher still
        rate = 2 * (warmup["sent"] or warmup["requests"]) / warmup["seconds"]
    server = warmup_cpu.get("server", 0.0)
    cpu_bound = (os.cpu_count() or 1) * warmup["requests"] / server if server > 0 else 0.0
    return math.ceil(max(2.5 * rate, cpu_bound, 50.0) * seconds)


def write_items(path: Path, items: Sequence[str], args: argparse.Namespace) -> str:
    """`items` shared out between wrk's threads, a file `<path>.<thread id>` each (one empty item if none)."""
    for thread in range(args.threads):
        share = "".join(f"{item}\n" for item in items[thread :: args.threads] or [""])
        Path(f"{path}.{thread}".replace(" ", "_")).write_text(share)
    return str(path).replace(" ", "_")


def measure(
    workload: Workload, kind: str, server: Gunicorn, sql: SqlCount, seed: Seed, args: argparse.Namespace
) -> Row:
    """Warm up, then measure `workload` against `server`: its row of the table."""
    if workload.user == "readers":  # a token per user, in turn: the bearer token is the item
        headers, items = workload.headers("{item}"), tuple(token_pair(user)[0] for user in seed.readers)
    else:
        headers = workload.headers(token_pair(seed.users[workload.user])[0] if workload.user else "")
        items = workload.items
    request = {"BENCH_METHOD": workload.method, "BENCH_PATH": workload.path, "BENCH_BODY": workload.body}
    request["BENCH_HEADERS"] = "".join(f"{name}: {value}\n" for name, value in headers.items())
    request["BENCH_ONCE"] = "1" if workload.single_use else ""
    result: dict[str, Any] = {}
    cpu: dict[str, float] = {}
    for phase, seconds in (("warmup", args.warmup), ("run", args.duration)):
        if workload.single_use:  # a pool for each phase, sized from the one before
            items = tuple(refresh_tokens(seed.users["bench"], pool_size(result, cpu, seconds)))
        request["BENCH_ITEMS"] = write_items(args.directory / f"{server.port}-{workload.name}-{phase}", items, args)
        wait_quiet(server)
        before = cpu_use(server)
        result = run_wrk(server.url, request, seconds, args)
        cpu = {who: spent - before[who] for who, spent in cpu_use(server).items()}
    cpu["wrk"] = result["wrk_cpu_seconds"]
    cpu["other"] = max(0.0, cpu["machine"] - cpu["server"] - cpu["postgres"] - cpu["wrk"])
    # Percent of the machine's CPU (all cores) used by the server, PostgreSQL, wrk, and anything else
    # ("other": another job, which distorts the figures).
    capacity = (os.cpu_count() or 1) * result["seconds"] or 1.0
    share = {who: 100 * spent / capacity for who, spent in cpu.items()}
    row = {"workload": workload.name, "server": kind, **result, "floor_percent": None}
    row |= {"sql_logged_per_request": sql.logged, "sql_sent_per_request": sql.sent}
    row["sql_statements"] = [normalize_sql(statement) for statement in sql.statements]
    row["cpu_ms_per_request"] = cpu["server"] * 1000 / result["requests"] if result["requests"] else None
    row |= {"rss_mb_per_worker": worker_memory(server, "Rss"), "pss_mb_per_worker": worker_memory(server, "Pss")}
    row |= {"cpu_share_percent": share, "notes": []}
    if result["exhausted_threads"]:
        row["notes"].append("token pool ran out: req/s understated")
    if result["non_2xx"] or result["socket_errors"]:
        row["notes"].append(f"{result['non_2xx']} non-2xx, {result['socket_errors']} socket errors")
    if share["other"] > OTHER_LOAD_WARNING:
        row["notes"].append(f"other jobs used {share['other']:.0f}% of the machine's CPU meanwhile")
    say(
        f"  {label(row):<28} {row['requests_per_second']:9.1f} req/s  p50 {row['p50_ms']:7.2f} ms  "
        f"p99 {row['p99_ms']:7.2f} ms  non-2xx {row['non_2xx']}  other load {share['other']:.0f}%"
    )
    return row


# Reporting ----------------------------------------------------------------------------------------


def label(row: Row) -> str:
    return row["workload"] if row["server"] == "app" else f"  floor: {row['workload']}"


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


COLUMNS: list[tuple[str, Callable[[Row], str]]] = [
    ("workload", label),
    ("req/s", lambda row: number(row["requests_per_second"])),
    ("p50 ms", lambda row: number(row["p50_ms"], 2)),
    ("p99 ms", lambda row: number(row["p99_ms"], 2)),
    ("non-2xx", lambda row: str(row["non_2xx"] + row["socket_errors"])),
    ("SQL/req", lambda row: number(row["sql_logged_per_request"], 0)),
    ("sent/req", lambda row: number(row["sql_sent_per_request"], 0)),
    ("CPU ms/req", lambda row: number(row["cpu_ms_per_request"], 2)),
    ("RSS MB/worker", lambda row: number(row["rss_mb_per_worker"])),
    ("other load", lambda row: f"{row['cpu_share_percent']['other']:.0f}%"),
    ("% of floor", lambda row: "" if row["floor_percent"] is None else f"{row['floor_percent']:.0f}%"),
]


def table(rows: Sequence[Row]) -> str:
    """The rows aligned: the workload left, the figures right."""
    cells = [[name for name, _ in COLUMNS]] + [[cell(row) for _, cell in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            cell.rjust(width) if i else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def environment(database_url: str) -> dict[str, Any]:
    """The machine, the versions, and the code measured (with the tracked files changed since its commit)."""

    def output(*command: str) -> str:
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False).stdout

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu_models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])  # MemTotal, its first line
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()
    packages = ("Django", "djangorestframework", "gunicorn", "psycopg", "orjson", "PyJWT")
    modified = [line[3:] for line in output("git", "status", "--porcelain", "--untracked-files=no").splitlines()]
    return {
        "machine": {
            "cores": os.cpu_count(),
            "cpu_model": cpu_models[0] if cpu_models else platform.processor(),
            "memory_gb": round(memory_kb / 1024 / 1024, 1),
            "kernel": platform.release(),
        },
        "versions": {
            "python": platform.python_version(),
            **{package: version(package) for package in packages},
            "postgresql": str(postgres[0]) if postgres else "unknown",
            "wrk": output("wrk", "-v").split("\n")[0].strip(),
        },
        "code": {"commit": output("git", "rev-parse", "--short", "HEAD").strip() or "unknown", "modified": modified},
    }


def draw_chart(results: dict[str, Any]) -> None:
    """One bar per row, top to bottom: the app's req/s (and its share of the floor's), its floor's under it."""
    try:
        import matplotlib as mpl
    except ImportError as exc:
        say(f"No chart ({exc}): pip install -r requirements/dev.txt")
        return
    mpl.use("Agg")  # no display: render to a file
    import matplotlib.pyplot as plt

    rows, settings = results["rows"], results["settings"]
    rates = [row["requests_per_second"] for row in rows]
    positions, top = range(len(rows) - 1, -1, -1), max([*rates, 1.0])
    figure, axes = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.6))
    axes.barh(positions, rates, color=["#2b6cb0" if row["server"] == "app" else "#a0aec0" for row in rows])
    axes.set_yticks(positions, [row["workload"] + (" (floor)" if row["server"] == "floor" else "") for row in rows])
    for position, row in zip(positions, rows, strict=True):
        share = f"  ({row['floor_percent']:.0f}% of floor)" if row["floor_percent"] else ""
        note = f"{row['requests_per_second']:,.0f}{share}"
        axes.text(row["requests_per_second"] + top * 0.01, position, note, va="center", fontsize=8)
    axes.set_xlim(0, top * 1.3)
    axes.set_xlabel("requests per second (higher is better)")
    axes.set_title(
        f"Tasks API throughput, {results['date'][:10]}: wrk -t{settings['threads']} -c{settings['connections']} "
        f"-d{settings['duration_s']:g}s, 2 gunicorn workers, {results['machine']['cores']} cores, "
        f"load average {results['load_average']['start'][0]:g} at start\n"
        "blue: the app; grey: the floor (bare WSGI, same SQL and JWT check)",
        fontsize=10,
    )
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(CHART, dpi=110)
    plt.close(figure)
    say(f"Chart: {CHART.relative_to(ROOT)}")


def print_and_save(results: dict[str, Any]) -> None:
    settings, machine, code = results["settings"], results["machine"], results["code"]
    say()
    say(
        f"Tasks API benchmark {results['date'][:16].replace('T', ' ')} UTC, {machine['cores']} cores "
        f"({machine['cpu_model']}); wrk -t{settings['threads']} -c{settings['connections']} "
        f"-d{settings['duration_s']:g}s; 2 gunicorn sync workers; load average {results['load_average']['start'][0]} "
        f"before the run; code at {code['commit']}{' with uncommitted changes' if code['modified'] else ''}"
    )
    say(f"{FLOOR_NOTE}.")
    say(
        "SQL/req: statements Django logs (CaptureQueriesContext); sent/req: statements libpq sends (its trace: "
        "adds the connection health check's SELECT 1); CPU ms/req: gunicorn master + workers; other load: "
        "share of the machine's CPU used by anything but the server, PostgreSQL and wrk (another job: distorts)."
    )
    for title, limits_on in (("Rate limits off", False), ("Production defaults (rate limits on, in Redis)", True)):
        if rows := [row for row in results["rows"] if row["workload"].endswith(LIMITS_ON) == limits_on]:
            say(f"\n{title}:\n{table(rows)}")
    notes = results["notes"] + [
        f"{label(row).strip()}: {'; '.join(row['notes'])}" for row in results["rows"] if row["notes"]
    ]
    say("\n".join(f"Note: {note}" for note in notes))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    say(f"Results: {RESULTS.relative_to(ROOT)}")
    draw_chart(results)


# Main ---------------------------------------------------------------------------------------------


def run_passes(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """Seed, then each pass: its servers, and each workload's SQL (counted once), load and floor."""
    from django.core.wsgi import get_wsgi_application

    started, load_at_start = dt.datetime.now(dt.UTC), [round(load, 2) for load in os.getloadavg()]
    notes = [
        f"Limits off: {', '.join(f'{name}=' for name in harness.THROTTLE_VARIABLES)} (empty).",
        f"Limits on: production defaults (those variables unset), counters in Redis ({env['REDIS_URL']}); "
        f"requests spread over {READERS} users; the floor adds one Redis round trip (INCR + EXPIRE NX).",
    ]
    say("Migrating and seeding...")
    harness.setup_django(env)
    from bench import floor  # reads the environment setup_django set

    password, app_wsgi = f"bench-{os.getpid()}-correct-horse-battery", get_wsgi_application()
    users = harness.seed(
        prefix=f"bench{os.getpid()}-", users=2 + READERS, tasks_per_user=TASKS_PER_USER, password=password
    )
    seed = Seed(password, {"bench": users[0], "writer": users[1]}, users[2:])
    (args.directory / "bench.lua").write_text(LUA)
    floor_env = env | {"GUNICORN_ACCESS_LOG": ""}  # the floor is the least work that can answer: no access log
    limits_on = {key: value for key, value in env.items() if key not in harness.THROTTLE_VARIABLES}  # the defaults
    passes = {"off": (env, floor_env), "on": (limits_on, floor_env | {"FLOOR_REDIS_URL": env["REDIS_URL"]})}
    rows: list[Row] = []
    sql_counts: dict[str, tuple[SqlCount, SqlCount | None]] = {}
    for name in args.passes:
        app = Gunicorn(passes[name][0], harness.pick_port(args.port), args.directory / f"app-{name}.log")
        floor_port = harness.pick_port(args.floor_port, avoid=(app.port,))
        floor_log = args.directory / f"floor-{name}.log"
        floor_server = Gunicorn(passes[name][1], floor_port, floor_log, app="bench.floor:application")
        try:
            app.start()
            floor_server.start()
            say(f"Rate limits {name}: app on {app.url}, floor on {floor_server.url}.")
            say(f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s after a {args.warmup:g}s warm-up:")
            # With the limits on, only the workloads with a floor, each request by the next reader: refreshes
            # and logins have limits of their own that a benchmark would only measure refusing.
            for workload in workloads(seed):
                if (args.only and workload.name not in args.only) or (name == "on" and not workload.floor):
                    continue
                if workload.name not in sql_counts:
                    sql = count_sql(workload, app_wsgi, django_connection, seed, notes)
                    floor_sql = None
                    if workload.floor:
                        floor_sql = count_sql(workload, floor.application, floor.connection, seed, notes)
                        notes += floor_differences(workload.name, sql, floor_sql)
                    sql_counts[workload.name] = sql, floor_sql
                sql, floor_sql = sql_counts[workload.name]
                if name == "on":
                    workload = replace(workload, name=workload.name + LIMITS_ON, user="readers")
                row = measure(workload, "app", app, sql, seed, args)
                rows.append(row)
                if floor_sql is not None:
                    floor_row = measure(workload, "floor", floor_server, floor_sql, seed, args)
                    rows.append(floor_row)
                    if floor_row["requests_per_second"]:
                        row["floor_percent"] = 100 * row["requests_per_second"] / floor_row["requests_per_second"]
        finally:
            app.stop()
            floor_server.stop()
    notes.append(f"Run took {(dt.datetime.now(dt.UTC) - started).total_seconds():.0f}s, setup included.")
    settings = {"duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections}
    settings |= {"threads": args.threads, "gunicorn_workers": 2, "tasks_per_user": TASKS_PER_USER}
    return {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(["bench/run.py", *sys.argv[1:]]),
        "settings": settings,
        **environment(env["DATABASE_URL"]),
        "load_average": {"start": load_at_start, "end": [round(load, 2) for load in os.getloadavg()]},
        "floor": FLOOR_NOTE,
        "notes": notes,
        "rows": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """0 (PASS) when the floor still sends the app's SQL and gives its answers, 1 when not, 2: cannot run."""
    args = parse_args(argv)
    say(f"Load average: {harness.load_average()}")
    given_url = os.environ.get("DATABASE_URL", "")  # used, migrated and seeded, and left in place
    database = "" if given_url else f"bench_{os.getpid()}"
    args.directory = Path(tempfile.mkdtemp(prefix="bench-"))

    def run() -> bool:
        results = run_passes(args, harness.production_env(given_url or harness.create_database(database)))
        print_and_save(results)
        return not any(note.startswith("Floor differs") for note in results["notes"])

    def clean_up() -> None:
        say("Cleaning up...")
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if database:
            harness.drop_database(database)
        shutil.rmtree(args.directory, ignore_errors=True)

    return harness.verdict(run, clean_up, failure="the floor no longer sends the app's SQL or gives its answers")


if __name__ == "__main__":
    sys.exit(main())
