"""`make load`: many concurrent users on a mixed workload against the app under gunicorn, with Locust.

    .venv/bin/python bench/load.py [--clients 64] [--duration 60] [--port 8201]

Creates a fresh database on the machine's PostgreSQL, migrates it, seeds one account per client
(200 tasks each), and serves the app with gunicorn, production settings, 2 workers and every rate
limit off (the point is to measure the app, not to be refused by it). Then Locust, headless, runs
`bench/locustfile.py`: each user keeps its own session and sends the weighted mix below without
pause. Prints, from Locust's CSV statistics, the requests, throughput, statuses, socket errors and
p50/p99/max latency per kind of request (as the client saw it, queueing included). Exits 1 on any
5xx or socket error, 2 when the benchmark cannot run. Server and database go, whatever happens.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # import `bench.harness` from the root: in bench/, `common` is not the project's app

from bench.harness import (  # noqa: E402
    PYTHON,
    SEARCH_WORD,
    BenchError,
    Gunicorn,
    create_database,
    database_url,
    drop_database,
    production_env,
    say,
    seed,
    setup_django,
    token_pair,
    verdict,
)

PASSWORD = "bench-load-password-1"  # noqa: S105 (the seeded accounts' password, not a secret)
TASKS_PER_USER = 200
# Relative weights of each kind of request. Logins are rare, as in real traffic: each costs an
# Argon2 hash (about 0.1-0.5 s of a worker's CPU), so a few per second fill a worker.
MIX = {
    "login": 3,
    "refresh": 20,
    "me": 120,
    "list": 200,
    "list_filtered": 170,
    "create": 160,
    "update": 140,
    "delete": 60,
    "health_live": 40,
    "health_ready": 40,
}
EXPECTED_STATUS = {"create": 201, "delete": 204}  # every other kind: 200
FILTERS = (
    "status=done",
    "status=in_progress&ordering=-priority",
    "priority=high",
    f"search={SEARCH_WORD}",
    "due_before=2030-01-01&ordering=due_date",
    "due_after=2000-01-01&status=todo",
    "page=2&page_size=50",
    "ordering=title&page_size=100",
)


def accounts_file(env: dict[str, str], path: Path, *, prefix: str, users: int) -> Path:
    """Seed `users` accounts with their tasks and a session each (in this process, as the app); the
    file the locustfile reads them from."""
    setup_django(env)
    accounts = []
    for user in seed(prefix=prefix, users=users, tasks_per_user=TASKS_PER_USER, password=PASSWORD):
        access, refresh = token_pair(user)
        accounts.append({"email": user.email, "access": access, "refresh": refresh})
    path.write_text(json.dumps(accounts))
    return path


def run_locust(
    host: str, accounts: Path, csv_prefix: Path, *, users: int, duration: float, extra_env: dict[str, str] | None = None
) -> float:
    """Locust headless against `host` for `duration` seconds, its statistics in `<csv_prefix>_*.csv`;
    the CPU seconds it used. Requests in flight at the end may finish (up to 30 s)."""
    command = [str(PYTHON.parent / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless"]
    command += ["--users", str(users), "--spawn-rate", str(users), "--run-time", f"{duration:g}s", "--host", host]
    command += ["--csv", str(csv_prefix), "--stop-timeout", "30", "--exit-code-on-error", "0", "--loglevel", "WARNING"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_ACCOUNTS": str(accounts), "BENCH_PASSWORD": PASSWORD}
    log = csv_prefix.with_suffix(".log")
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env | (extra_env or {}), stdout=output, stderr=output)
        try:
            _, status, usage = os.wait4(process.pid, 0)  # its own CPU time, as it exits
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if process.returncode is None:  # interrupted: stop Locust too
                process.kill()
                process.wait()
    if process.returncode != 0 or not csv_prefix.with_name(csv_prefix.name + "_stats.csv").exists():
        raise BenchError(f"locust failed:\n{log.read_text(errors='replace')[-3000:]}")
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Kind:
    """Locust's figures for one kind of request (or all of them), with the statuses it got."""

    name: str
    count: int
    rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: Counter[str]


def read_stats(csv_prefix: Path) -> tuple[dict[str, Kind], list[str]]:
    """Locust's CSV statistics by kind of request (and "all"), and the exceptions raised in its users.

    A request fails unless it got its kind's expected status, under the name "status N" or "no
    answer: ...": those give the other statuses.
    """

    def rows(suffix: str) -> list[dict[str, str]]:
        with csv_prefix.with_name(f"{csv_prefix.name}_{suffix}.csv").open() as file:
            return list(csv.DictReader(file))

    statuses: dict[str, Counter[str]] = {}
    for row in rows("failures"):
        error = row["Error"].removeprefix("status ")
        statuses.setdefault(row["Name"], Counter())[error if error.isdigit() else "socket error"] += int(
            row["Occurrences"]
        )
    kinds: dict[str, Kind] = {}
    for row in rows("stats"):
        name = "all" if row["Name"] == "Aggregated" else row["Name"]
        expected = int(row["Request Count"]) - int(row["Failure Count"])
        answered = Counter({str(EXPECTED_STATUS.get(name, 200)): expected}) + statuses.get(name, Counter())
        if name == "all":  # the kinds come first
            answered = sum((kind.statuses for kind in kinds.values()), Counter())
        p50, p99, slowest = (float(row[column].replace("N/A", "nan")) for column in ("50%", "99%", "Max Response Time"))
        kinds[name] = Kind(name, int(row["Request Count"]), float(row["Requests/s"]), p50, p99, slowest, +answered)
    return kinds, [f"{row['Count']} x {row['Message']}" for row in rows("exceptions")]


def status_counts(statuses: Counter[str]) -> str:
    """'200: 12, 503: 3, socket error: 1'."""
    return ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())) or "none"


def print_kinds(kinds: dict[str, Kind], *, with_max: bool = True) -> None:
    """One line per kind of request, in the mix's order, then all of them."""
    biggest = f"{'max ms':>10}" if with_max else ""
    say(f"{'kind':<14}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{biggest}  statuses")
    for name in [*MIX, "all"]:
        kind = kinds.get(name) or Kind(name, 0, 0.0, float("nan"), float("nan"), float("nan"), Counter())
        biggest = f"{kind.max_ms:>10.1f}" if with_max else ""
        statuses = status_counts(kind.statuses) if name != "all" else ""
        say(f"{name:<14}{kind.count:>8}{kind.p50_ms:>10.1f}{kind.p99_ms:>10.1f}{biggest}  {statuses}".rstrip())


def report(kinds: dict[str, Kind], exceptions: list[str], server: Gunicorn) -> bool:
    """Print the results; True when there was no 5xx, no socket error and no exception in a user."""
    total = kinds["all"]
    statuses = total.statuses
    server_errors = sum(count for status, count in statuses.items() if status.startswith("5"))
    socket_errors = statuses["socket error"]
    unexpected = sum(
        count
        for kind in kinds.values()
        for status, count in kind.statuses.items()
        if kind.name != "all" and status not in (str(EXPECTED_STATUS.get(kind.name, 200)), "socket error")
    )
    say(f"requests: {total.count} in {total.count / total.rate:.1f} s = {total.rate:.1f} req/s")
    say(f"statuses: {status_counts(statuses)}")
    say(f"5xx: {server_errors}    socket errors: {socket_errors}    other unexpected: {unexpected}")
    print_kinds(kinds)
    for line in exceptions[:10]:
        say(f"  error in a simulated user: {line[:300]}")
    problems = server.log_problems()
    say(f"server log: {len(problems)} error lines")
    for line in problems[:10]:
        say(f"  {line[:300]}")
    return not server_errors and not socket_errors and not exceptions


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64, help="concurrent users, default 64")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load, default 60")
    parser.add_argument("--port", type=int, default=8201, help="port for gunicorn on 127.0.0.1, default 8201")
    args = parser.parse_args()
    if not 1 <= args.clients <= 512 or not 1 <= args.duration <= 3600:
        parser.error("--clients must be 1-512 and --duration 1-3600 seconds")
    return args


def main() -> int:
    """Set up, load, report, and always tear down; the exit status."""
    args = parse_args()
    database = f"bench_load_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = production_env(database_url(database))
    server = Gunicorn(env, args.port, workdir / "gunicorn.log")

    def run() -> bool:
        create_database(database)
        say(f"load average before: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        say(f"database {database}: migrating and seeding {args.clients} users x {TASKS_PER_USER} tasks")
        accounts = accounts_file(env, workdir / "accounts.json", prefix="load", users=args.clients)
        children_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        server.start()
        say(
            f"gunicorn on {server.url}: 2 sync workers, DEBUG off, rate limits off (THROTTLE_* set empty); "
            f"{args.clients} clients (Locust users) for {args.duration:.0f} s"
        )
        say("mix: " + ", ".join(f"{kind} {weight / sum(MIX.values()):.1%}" for kind, weight in MIX.items()))
        started = time.monotonic()
        client_cpu = run_locust(server.url, accounts, workdir / "load", users=args.clients, duration=args.duration)
        elapsed = time.monotonic() - started
        server.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = after.ru_utime + after.ru_stime - children_cpu.ru_utime - children_cpu.ru_stime - client_cpu
        ok = report(*read_stats(workdir / "load"), server)
        say(
            f"CPU seconds over {elapsed:.1f} s on {os.cpu_count()} cores: clients {client_cpu:.1f} (Locust, "
            f"startup included), gunicorn {server_cpu:.1f} (master and every worker; PostgreSQL not counted)"
        )
        say(f"load average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        return ok

    def clean_up() -> None:
        server.stop()
        drop_database(database)
        shutil.rmtree(workdir, ignore_errors=True)

    return verdict(run, clean_up, failure="5xx answers, socket errors or errors in simulated users (see above)")


if __name__ == "__main__":
    raise SystemExit(main())
