"""`make bench`: the API's throughput and latency under wrk, beside a bare-WSGI floor (`bench/floor.py`).

Two passes (rate limits off; production defaults), one table each; writes `bench/results/latest.json`
and `docs/bench-throughput.png`. Options, what is measured and how: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.core.wsgi import get_wsgi_application
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from matplotlib.figure import Figure
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
Row = dict[str, Any]  # one line of a table, and of the results' "rows"

# wrk's script: it sends the requests of its thread's file (BENCH_REQUESTS.<thread id>, each ended by
# \x1f) in turn. With BENCH_ONCE=1 each is sent once: a thread that has sent them all stops (the result
# says so) rather than send one twice (a refresh token presented twice revokes its session).
LUA = r"""
local threads, requests, index = {}, {}, 0
exhausted = 0
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  local file = io.open(os.getenv("BENCH_REQUESTS") .. "." .. id, "rb")
  for request in file:read("*a"):gmatch("(.-)\31") do requests[#requests + 1] = request end
  file:close()
end
function request()
  index = index + 1
  if index > #requests and os.getenv("BENCH_ONCE") == "1" then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/health/live")
  elseif index > #requests then
    index = 1
  end
  return requests[index]
end
function done(summary, latency)
  local exhausted_threads, e = 0, summary.errors
  for _, thread in ipairs(threads) do exhausted_threads = exhausted_threads + thread:get("exhausted") end
  io.write(string.format('BENCH_RESULT {"seconds": %f, "requests": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_ms": %f, "p90_ms": %f, "p99_ms": %f, "exhausted_threads": %d}\n',
    summary.duration / 1e6, summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, exhausted_threads))
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
    user: Any = None  # each request carries a fresh access token of this user
    items: tuple[str, ...] = ()
    refresh_of: Any = None  # the items are this user's refresh tokens, issued per run and sent once each
    floor: bool = False  # also run against the floor
    readers: tuple[Any, ...] = ()  # each request carries the access token of the next of these users

    def request(self, item: str, token: str) -> tuple[str, str, dict[str, str]]:
        """The path, body and headers of one request, with `item` and bearer `token` (if any)."""
        headers = {"Content-Type": self.content_type} if self.content_type else {}
        headers |= {"Authorization": f"Bearer {token}"} if token else {}
        return self.path.replace("{item}", item), self.body.replace("{item}", item), headers

    def http(self, item: str, token: str, host: str) -> str:
        """One request as wrk sends it."""
        path, body, headers = self.request(item, token)
        headers |= {"Host": host} | ({"Content-Length": str(len(body.encode()))} if body else {})
        lines = [f"{self.method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items())]
        return "\r\n".join([*lines, "", body])

    def token(self) -> str:
        return token_pair(self.user)[0] if self.user else ""


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
    with transaction.atomic():
        return [token_pair(user)[1] for _ in range(count)]


def workloads(bench: Any, writer: Any, password: str) -> list[Workload]:
    """The requests measured, in the order they run (the writes last, so that reads see the seed)."""
    login_form = urlencode({"username": bench.email, "password": password})
    task_ids = tuple(str(pk) for pk in sorted(bench.tasks.values_list("pk", flat=True)))
    new_task = '{"title": "Benchmark task", "description": "Made by wrk", "priority": "high", "due_date": "2030-01-01"}'
    rename, refresh = '{"title": "Renamed by the benchmark {item}"}', '{"refresh_token": "{item}"}'
    json_type, form_type, search = "application/json", "application/x-www-form-urlencoded", harness.SEARCH_WORD
    return [
        Workload("health ready", "GET", "/health/ready"),
        Workload("me", "GET", "/api/v1/users/me", user=bench, floor=True),
        Workload("list 20", "GET", "/api/v1/tasks/", user=bench),
        Workload("list 100", "GET", "/api/v1/tasks/?page_size=100", user=bench, floor=True),
        Workload("list status=done", "GET", "/api/v1/tasks/?status=done", user=bench),
        Workload(f"list search={search}", "GET", f"/api/v1/tasks/?search={search}", user=bench),
        Workload("update", "PATCH", "/api/v1/tasks/{item}", rename, json_type, user=bench, items=task_ids),
        Workload("create", "POST", "/api/v1/tasks/", new_task, json_type, user=writer, floor=True),
        Workload("refresh", "POST", "/api/v1/auth/refresh", refresh, json_type, refresh_of=bench),
        Workload("login", "POST", "/api/v1/auth/login", login_form, form_type),
    ]


# SQL per request, and the floor's check -----------------------------------------------------------


@contextlib.contextmanager
def libpq_trace(pg_connection: Any) -> Iterator[list[str]]:
    """The statements a psycopg connection sends while the block runs, from libpq's protocol trace: what
    the server receives, including what no Python hook sees."""
    statements: list[str] = []
    with tempfile.TemporaryFile("w+b") as trace:
        pg_connection.pgconn.trace(trace.fileno())
        pg_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield statements
        finally:
            pg_connection.pgconn.untrace()
            trace.seek(0)
            for line in trace.read().decode(errors="replace").splitlines():
                fields = line.split("\t", 3)  # F <length> Query "<sql>": both programs bind client-side
                if fields[0] == "F" and fields[2:3] == ["Query"]:
                    statements.append(fields[3].strip()[1:-1])


def normalize_sql(statement: str) -> str:
    """`statement` with its literal values replaced by `?`, to compare the statements of two programs."""
    statement = re.sub(r"'(?:[^']|'')*'(?:::\w+)?", "?", statement)
    return re.sub(r"\b(?:\d+(?:\.\d+)?|NULL|true|false)\b", "?", statement)


def count_sql(workload: Workload, kind: str, notes: list[str]) -> tuple[Row, bytes]:
    """The workload's SQL figures and its last answer: its request sent through the app's (or the floor's)
    WSGI stack in this process once to warm up, then three times counted as Django logs and libpq sends."""
    from bench import floor  # reads the environment setup_django set

    app: Any = get_wsgi_application() if kind == "app" else floor.application
    factory = RequestFactory(headers={"Host": "127.0.0.1"})
    items = refresh_tokens(workload.refresh_of, 4) if workload.refresh_of else workload.items or ("",)
    # Entering CaptureQueriesContext opens Django's connection, whose psycopg connection is then traced.
    raw_connection = floor.connection if kind == "floor" else lambda: connection.connection
    logged, sent, statuses = 0, 0, []
    for call in range(4):  # the first opens the connection and fills the caches
        path, data, headers = workload.request(items[call % len(items)], workload.token())
        environ = factory.generic(workload.method, path, data, headers=headers).environ
        with CaptureQueriesContext(connection) as captured, libpq_trace(raw_connection()) as statements:
            response = app(environ, lambda status, *_: statuses.append(status.split()[0]))
            body = b"".join(response)
            getattr(response, "close", lambda: None)()  # as a server does: Django's sends request_finished
        if call:
            logged, sent = logged + len(captured), sent + len(statements)
    if any(not status.startswith("2") for status in statuses[1:]):
        notes.append(
            f"{'' if kind == 'app' else 'floor '}{workload.name}: the SQL-count requests answered {statuses[1:]}"
        )
    figures = {"sql_logged_per_request": logged / 3 if kind == "app" else None, "sql_sent_per_request": sent / 3}
    return figures | {"sql_statements": [normalize_sql(statement) for statement in statements]}, body


def floor_differences(name: str, app: tuple[Row, bytes], floor: tuple[Row, bytes]) -> list[str]:
    """Where the floor's SQL (literals aside) or answer (a new row's id and times aside) differs from the app's."""
    problems, statements = [], [figures["sql_statements"] for figures, _ in (app, floor)]
    if statements[0] != statements[1]:
        problems.append(f"Floor differs: {name}: the app sends {statements[0]}, the floor {statements[1]}")
    answers = [json.loads(body) for _, body in (app, floor)]
    if "created_at" in answers[0]:
        answers = [
            {key: answer[key] for key in answer.keys() - {"id", "created_at", "updated_at"}} for answer in answers
        ]
    if answers[0] != answers[1]:
        problems.append(f"Floor differs: {name}: the floor's answer differs from the app's")
    return problems


# Load, and what the server spent on it ------------------------------------------------------------


def run_wrk(url: str, request: dict[str, str], seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    """One wrk run (30 s timeout: slow answers are measured, not dropped)."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--timeout=30s"]
    command += ["-s", str(args.directory / "bench.lua"), url]
    try:
        done = subprocess.run(command, env=os.environ | request, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired as exc:
        raise harness.BenchError(f"wrk did not end in {seconds + 60:g} s") from exc
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if done.returncode != 0 or not lines:
        raise harness.BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = json.loads(lines[0].removeprefix("BENCH_RESULT "))
    result["requests_per_second"] = result["requests"] / result["seconds"] if result["seconds"] else 0.0
    return result


def cpu_use(server: Gunicorn) -> dict[str, float]:
    """CPU seconds so far of the machine (all cores, since boot), PostgreSQL, the server and wrk, each with
    its processes' exited children: the postmaster's ended backends, the gunicorn master's recycled
    workers, and this script's wrk runs (its only children that end while it measures)."""
    master = server.process.pid if server.process else 0
    ticks = dict.fromkeys(("postgres", "server", "wrk"), 0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # gone meanwhile
            head, _, tail = stat.read_text().rpartition(")")  # "<pid> (<command>", then the numbers
            fields = [int(field) for field in tail.split()[1:15]]  # [0] parent, [10:12] own CPU, [12:14] children's
            pid, own, reaped = int(stat.parent.name), fields[10] + fields[11], fields[12] + fields[13]
            if head.endswith("(postgres"):
                ticks["postgres"] += own + reaped
            elif master in (pid, fields[0]):
                ticks["server"] += own + reaped
            elif pid == os.getpid():
                ticks["wrk"] += reaped
    busy = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
    machine = (sum(busy) - busy[3] - busy[4]) / TICKS  # all but idle and iowait
    return {"machine": machine} | {who: value / TICKS for who, value in ticks.items()}


def wait_quiet(server: Gunicorn, max_wait: float = 60.0, window: float = 0.5) -> None:
    """Wait until the server stops using CPU: after wrk stops, a sync worker still answers every
    connection left in its listen queue (for logins, seconds of work the next run would be charged)."""
    started, workers, before = time.monotonic(), max(1, len(server.worker_pids())), cpu_use(server)["server"]
    while time.monotonic() - started < max_wait:
        time.sleep(window)
        after = cpu_use(server)["server"]
        if after - before < 0.02 * window * workers:
            return
        before = after


def worker_memory(server: Gunicorn) -> dict[str, float | None]:
    """The workers' mean RSS and PSS (shared pages split between sharers), in MB."""
    sizes: dict[str, list[int]] = {"Rss": [], "Pss": []}
    for pid in server.worker_pids():
        with contextlib.suppress(OSError):
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            for kind, kilobytes in re.findall(r"^(Rss|Pss):\s+(\d+)", rollup, re.MULTILINE):
                sizes[kind].append(int(kilobytes))
    return {f"{kind.lower()}_mb_per_worker": sum(kb) / len(kb) / 1024 if kb else None for kind, kb in sizes.items()}


def pool_size(warmup: dict[str, Any], warmup_cpu: dict[str, float], seconds: float) -> int:
    """How many single-use tokens a phase of `seconds` needs: the warm-up gets 1,000 a second; the run,
    2.5 times the warm-up's rate or what the cores allow at the warm-up's CPU time per request if more."""
    if not warmup:
        return math.ceil(1000 * seconds)
    rate = warmup["requests_per_second"] * (2 if warmup["exhausted_threads"] else 1)  # if out, it was higher
    cpu_bound = (os.cpu_count() or 1) * warmup["requests"] / warmup_cpu["server"] if warmup_cpu["server"] else 0.0
    return math.ceil(max(2.5 * rate, cpu_bound, 50.0) * seconds)


def measure(workload: Workload, kind: str, server: Gunicorn, sql: Row, args: argparse.Namespace) -> Row:
    """Warm up, then measure `workload` against `server`: its row of the table."""
    token, items = workload.token(), workload.items or ("",)
    if workload.readers:  # each request by the next reader: the item is its token
        items = tuple(token_pair(user)[0] for user in workload.readers)
    variables = {"BENCH_REQUESTS": str(args.directory / "requests"), "BENCH_ONCE": "1" if workload.refresh_of else ""}
    result: dict[str, Any] = {}
    cpu: dict[str, float] = {}
    for seconds in (args.warmup, args.duration):
        if workload.refresh_of:  # a pool for each phase, sized from the one before
            items = tuple(refresh_tokens(workload.refresh_of, pool_size(result, cpu, seconds)))
        host = server.url.removeprefix("http://")
        requests = [workload.http(item, item if workload.readers else token, host) for item in items]
        for thread in range(args.threads):  # shared out between wrk's threads, a file each (all of one)
            own = requests[thread :: args.threads] if len(requests) > 1 else requests
            Path(f"{variables['BENCH_REQUESTS']}.{thread}").write_text("".join(f"{request}\x1f" for request in own))
        wait_quiet(server)
        before = cpu_use(server)
        result = run_wrk(server.url, variables, seconds, args)
        cpu = {who: spent - before[who] for who, spent in cpu_use(server).items()}
    # Percent of the machine's CPU (all cores) used by the server, PostgreSQL, wrk, and anything else
    # ("other": another job, which distorts the figures).
    cpu["other"] = max(0.0, cpu["machine"] - cpu["server"] - cpu["postgres"] - cpu["wrk"])
    share = {who: 100 * spent / ((os.cpu_count() or 1) * result["seconds"] or 1.0) for who, spent in cpu.items()}
    row = {"workload": workload.name, "server": kind, **result, "floor_percent": None, **sql}
    row["cpu_ms_per_request"] = cpu["server"] * 1000 / result["requests"] if result["requests"] else None
    row |= worker_memory(server) | {"cpu_share_percent": share, "notes": []}
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
    widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
    lines = ["  ".join([line[0].ljust(widths[0]), *map(str.rjust, line[1:], widths[1:])]) for line in cells]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def environment() -> dict[str, Any]:
    """The machine, the versions, and the code measured (with the tracked files changed since its commit)."""

    def output(*command: str) -> str:
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    connection.ensure_connection()
    cpu_model = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    machine = {"cores": os.cpu_count(), "cpu_model": cpu_model[1] if cpu_model else platform.processor()}
    machine |= {"memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}
    packages = ("Django", "djangorestframework", "gunicorn", "psycopg", "orjson", "PyJWT")
    versions = {"python": platform.python_version(), **{package: version(package) for package in packages}}
    versions["postgresql"] = connection.connection.info.parameter_status("server_version") or "unknown"
    versions["wrk"] = output("wrk", "-v").splitlines()[0]
    modified = output("git", "diff", "--name-only", "HEAD").splitlines()
    code = {"commit": output("git", "rev-parse", "--short", "HEAD") or "unknown", "modified": modified}
    return {"machine": machine | {"kernel": platform.release()}, "versions": versions, "code": code}


def draw_chart(results: dict[str, Any]) -> None:
    """One bar per row, top to bottom: the app's req/s (and its share of the floor's), its floor's under it."""
    rows, settings = results["rows"], results["settings"]
    names = [row["workload"] + (" (floor)" if row["server"] == "floor" else "") for row in rows]
    rates = [row["requests_per_second"] for row in rows]
    shares = [f"  ({row['floor_percent']:.0f}% of floor)" if row["floor_percent"] else "" for row in rows]
    labels = [f"{rate:,.0f}{share}" for rate, share in zip(rates, shares, strict=True)]
    figure = Figure(figsize=(10, 0.42 * len(rows) + 1.6))
    axes = figure.subplots()
    bars = axes.barh(names, rates, color=["#2b6cb0" if row["server"] == "app" else "#a0aec0" for row in rows])
    axes.bar_label(bars, labels, padding=3, fontsize=8)
    axes.invert_yaxis()  # the first row on top
    axes.set_xlim(0, max([*rates, 1.0]) * 1.3)
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
    say(f"Chart: {CHART.relative_to(ROOT)}")


def print_and_save(results: dict[str, Any]) -> None:
    settings, machine, code = results["settings"], results["machine"], results["code"]
    say(
        f"\nTasks API benchmark {results['date'][:16].replace('T', ' ')} UTC, {machine['cores']} cores "
        f"({machine['cpu_model']}); wrk -t{settings['threads']} -c{settings['connections']} "
        f"-d{settings['duration_s']:g}s; 2 gunicorn sync workers; load average {results['load_average']['start'][0]} "
        f"before the run; code at {code['commit']}{' with uncommitted changes' if code['modified'] else ''}"
    )
    say(f"{FLOOR_NOTE}.")
    say(
        "SQL/req: statements Django logs (CaptureQueriesContext); sent/req: statements libpq sends (its trace); "
        "CPU ms/req: gunicorn master + workers; other load: share of the machine's CPU used by anything but the "
        "server, PostgreSQL and wrk (another job: distorts). More in bench/README.md."
    )
    for title, limits_on in (("Rate limits off", False), ("Production defaults (rate limits on, in Redis)", True)):
        if rows := [row for row in results["rows"] if row["workload"].endswith(LIMITS_ON) == limits_on]:
            say(f"\n{title}:\n{table(rows)}")
    row_notes = [f"{label(row).strip()}: {'; '.join(row['notes'])}" for row in results["rows"] if row["notes"]]
    say("\n".join(f"Note: {note}" for note in results["notes"] + row_notes))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    say(f"Results: {RESULTS.relative_to(ROOT)}")
    draw_chart(results)


# Main ---------------------------------------------------------------------------------------------


def run_passes(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """Seed, then each pass: its servers, and each workload's SQL (counted once), load and floor."""
    started, load_at_start = dt.datetime.now(dt.UTC), [round(load, 2) for load in os.getloadavg()]
    notes = [
        f"Limits off: {', '.join(f'{name}=' for name in harness.THROTTLE_VARIABLES)} (empty).",
        f"Limits on: production defaults (those variables unset), counters in Redis ({env['REDIS_URL']}); "
        f"requests spread over {READERS} users; the floor adds one Redis round trip (INCR + EXPIRE NX).",
    ]
    say("Migrating and seeding...")
    harness.setup_django(env)
    measured = environment()  # before the runs: a missing tool stops the run now, not after it
    password = f"bench-{os.getpid()}-correct-horse-battery"
    users = harness.seed(
        prefix=f"bench{os.getpid()}-", users=2 + READERS, tasks_per_user=TASKS_PER_USER, password=password
    )
    (args.directory / "bench.lua").write_text(LUA)
    floor_env = env | {"GUNICORN_ACCESS_LOG": ""}  # the floor is the least work that can answer: no access log
    limits_on = {key: value for key, value in env.items() if key not in harness.THROTTLE_VARIABLES}  # the defaults
    passes = {"off": (env, floor_env), "on": (limits_on, floor_env | {"FLOOR_REDIS_URL": env["REDIS_URL"]})}
    rows: list[Row] = []
    sql_counts: dict[str, dict[str, tuple[Row, bytes]]] = {}  # workload: server: its SQL figures, its answer
    for name in args.passes:
        app = Gunicorn(passes[name][0], harness.pick_port(args.port), args.directory / f"app-{name}.log")
        floor_port = harness.pick_port(args.floor_port, avoid=(app.port,))
        floor = Gunicorn(passes[name][1], floor_port, args.directory / f"floor-{name}.log", "bench.floor:application")
        servers = {"app": app, "floor": floor}
        try:
            for server in servers.values():
                server.start()
            say(f"Rate limits {name}: app on {app.url}, floor on {floor.url}.")
            say(f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s after a {args.warmup:g}s warm-up:")
            # With the limits on, only the workloads with a floor, each request by the next reader: refreshes
            # and logins have limits of their own that a benchmark would only measure refusing.
            for workload in workloads(users[0], users[1], password):
                if (args.only and workload.name not in args.only) or (name == "on" and not workload.floor):
                    continue
                if workload.name not in sql_counts:
                    kinds = ("app", "floor") if workload.floor else ("app",)
                    sql_counts[workload.name] = {kind: count_sql(workload, kind, notes) for kind in kinds}
                    if workload.floor:
                        notes += floor_differences(workload.name, *sql_counts[workload.name].values())
                counts = sql_counts[workload.name]
                if name == "on":
                    workload = replace(workload, name=workload.name + LIMITS_ON, readers=tuple(users[2:]))
                for kind, (sql, _) in counts.items():
                    rows.append(measure(workload, kind, servers[kind], sql, args))
                if workload.floor and rows[-1]["requests_per_second"]:
                    rows[-2]["floor_percent"] = 100 * rows[-2]["requests_per_second"] / rows[-1]["requests_per_second"]
        finally:
            for server in servers.values():
                server.stop()
    notes.append(f"Run took {(dt.datetime.now(dt.UTC) - started).total_seconds():.0f}s, setup included.")
    settings = {"duration_s": args.duration, "warmup_s": args.warmup, "connections": args.connections}
    settings |= {"threads": args.threads, "gunicorn_workers": 2, "tasks_per_user": TASKS_PER_USER}
    settings["rate_limits"] = {"limits off": dict.fromkeys(harness.THROTTLE_VARIABLES, ""), "limits on": "defaults"}
    return {
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(["bench/run.py", *sys.argv[1:]]),
        "settings": settings,
        **measured,
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
    directory = tempfile.TemporaryDirectory(prefix="bench-")
    args.directory = Path(directory.name)

    def run() -> bool:
        results = run_passes(args, harness.production_env(given_url or harness.create_database(database)))
        print_and_save(results)
        return not any(note.startswith("Floor differs") for note in results["notes"])

    def clean_up() -> None:
        say("Cleaning up...")
        if database:  # dropped WITH (FORCE): this process's connections too
            harness.drop_database(database)
        directory.cleanup()

    return harness.verdict(run, clean_up, failure="the floor no longer sends the app's SQL or gives its answers")


if __name__ == "__main__":
    sys.exit(main())
