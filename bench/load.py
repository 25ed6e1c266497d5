"""`make load`: Locust users on a mixed workload against the app under gunicorn (bench/README.md)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # import `bench.harness` from the root: in bench/, `common` is not the project's app

from bench import harness  # noqa: E402
from bench.harness import BenchError, Gunicorn, say  # noqa: E402

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
LATENCY_COLUMNS = ("50%", "99%", "Max Response Time")  # Locust's, in ms
FILTERS = (
    "status=done",
    "status=in_progress&ordering=-priority",
    "priority=high",
    f"search={harness.SEARCH_WORD}",
    "due_before=2030-01-01&ordering=due_date",
    "due_after=2000-01-01&status=todo",
    "page=2&page_size=50",
    "ordering=title&page_size=100",
)


def expected(kind: str) -> str:
    return str(EXPECTED_STATUS.get(kind, 200))


def seed_accounts(env: dict[str, str], database: str, workdir: Path, *, prefix: str, users: int) -> Path:
    """A new database, seeded (in this process, as the app) with an account and a session per user: the
    locustfile's accounts file."""
    harness.create_database(database)
    say(f"database {database}: migrating and seeding {users} users x {TASKS_PER_USER} tasks")
    harness.setup_django(env)
    accounts = []
    for user in harness.seed(prefix=prefix, users=users, tasks_per_user=TASKS_PER_USER, password=PASSWORD):
        access, refresh = harness.token_pair(user)
        accounts.append({"email": user.email, "access": access, "refresh": refresh})
    path = workdir / "accounts.json"
    path.write_text(json.dumps(accounts))
    return path


def run_locust(host: str, accounts: Path, csv_prefix: Path, *, users: int, duration: float, **hooks: str) -> None:
    """Locust headless, its statistics in `<csv_prefix>_final_*.csv`; `hooks` are the locustfile's BENCH_* variables."""
    command = [str(harness.PYTHON.parent / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless"]
    command += ["--users", str(users), "--spawn-rate", str(users), "--run-time", f"{duration:g}s", "--host", host]
    command += ["--csv", str(csv_prefix), "--stop-timeout", "30", "--exit-code-on-error", "0", "--loglevel", "WARNING"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_ACCOUNTS": str(accounts)}
    log = csv_prefix.with_suffix(".log")
    with log.open("wb") as output:
        locust = subprocess.run(command, cwd=ROOT, env=env | hooks, stdout=output, stderr=output, check=False)
    if locust.returncode != 0 or not csv_prefix.with_name(csv_prefix.name + "_final_stats.csv").exists():
        raise BenchError(f"locust failed:\n{log.read_text(errors='replace')[-3000:]}")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_stats(csv_prefix: Path, where: str = "") -> bool:
    """Print Locust's CSV statistics: totals, then p50/p99/max and statuses per kind in the mix's order (the
    locustfile names a failure "status N" or "no answer: ..."); whether there was no 5xx, socket error or
    error in a simulated user."""

    def rows(suffix: str) -> list[dict[str, str]]:
        with csv_prefix.with_name(f"{csv_prefix.name}_final_{suffix}.csv").open() as file:
            return list(csv.DictReader(file))

    statuses: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for row in rows("failures"):
        status = re.search(r"\bstatus (\d+)\b", row["Error"])  # the CSV has "CatchResponseError('status 404')"
        statuses[row["Name"]][status[1] if status else "socket error"] += int(row["Occurrences"])
    stats = {row["Name"]: row for row in rows("stats")}
    for name in stats.keys() - {"Aggregated"}:
        statuses[name][expected(name)] += int(stats[name]["Request Count"]) - int(stats[name]["Failure Count"])
    answered = sum(statuses.values(), Counter())
    server_errors = sum(count for status, count in answered.items() if status.startswith("5"))
    total = stats["Aggregated"]
    count, rate = int(total["Request Count"]), float(total["Requests/s"])
    say(f"requests: {count} in {count / rate:.1f} s = {rate:.1f} req/s{where}")
    say(f"statuses: {harness.status_counts(answered)}")
    unexpected = int(total["Failure Count"]) - answered["socket error"]  # a failure with an answer
    say(f"5xx: {server_errors}    socket errors: {answered['socket error']}    other unexpected: {unexpected}")
    say(f"{'kind':<14}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}  statuses")
    for name in [*MIX, "Aggregated"]:
        row = stats.get(name, {})
        latencies = [float(row.get(column, "nan").replace("N/A", "nan")) / 1000 for column in LATENCY_COLUMNS]
        figures = "".join(f"{harness.ms(seconds):>10}" for seconds in latencies)
        counts = harness.status_counts(statuses[name]) if name != "Aggregated" else ""
        say(
            f"{'all' if name == 'Aggregated' else name:<14}{row.get('Request Count', 0):>8}{figures}  {counts}".rstrip()
        )
    exceptions = rows("exceptions")
    for exception in exceptions[:10]:
        say(f"  error in a simulated user: {exception['Count']} x {exception['Message'][:300]}")
    return not server_errors and not answered["socket error"] and not exceptions


def print_log_problems(servers: list[Gunicorn], title: str) -> None:
    problems = [line for server in servers for line in server.log_problems()]
    say(f"{title}: {len(problems)} error lines")
    for line in problems[:10]:
        say(f"  {line[:300]}")


def parse_load_args(
    parser: argparse.ArgumentParser, *, max_clients: int, durations: tuple[float, float]
) -> argparse.Namespace:
    """`parser`'s own options and the load's, --clients and --duration, each within its bounds."""
    parser.add_argument("--clients", type=int, default=64, help="concurrent Locust users, default 64")
    parser.add_argument(
        "--duration", type=float, default=60, help=f"seconds of load, default 60 ({durations[0]:g}-{durations[1]:g})"
    )
    args = parser.parse_args()
    if not 1 <= args.clients <= max_clients or not durations[0] <= args.duration <= durations[1]:
        parser.error(f"--clients must be 1-{max_clients} and --duration {durations[0]:g}-{durations[1]:g} seconds")
    return args


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8201, help="port for gunicorn on 127.0.0.1, default 8201")
    args = parse_load_args(parser, max_clients=512, durations=(1, 3600))
    database = f"bench_load_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = harness.production_env(harness.database_url(database))
    server = Gunicorn(env, args.port, workdir / "gunicorn.log")

    def run() -> bool:
        say(f"load average before: {harness.load_average()}")
        accounts = seed_accounts(env, database, workdir, prefix="load", users=args.clients)
        server.start()
        say(
            f"gunicorn on {server.url}: 2 sync workers, DEBUG off, rate limits off (THROTTLE_* set empty); "
            f"{args.clients} clients (Locust users) for {args.duration:.0f} s"
        )
        say("mix: " + ", ".join(f"{kind} {weight / sum(MIX.values()):.1%}" for kind, weight in MIX.items()))
        # CPU time of the children that have ended and been waited for: Locust's, then gunicorn's.
        started, cpu_before = time.monotonic(), children_cpu()
        run_locust(server.url, accounts, workdir / "load", users=args.clients, duration=args.duration)
        elapsed, client_cpu = time.monotonic() - started, children_cpu() - cpu_before
        server.stop()
        server_cpu = children_cpu() - cpu_before - client_cpu
        passed = print_stats(workdir / "load")
        print_log_problems([server], "server log")
        say(
            f"CPU seconds over {elapsed:.1f} s on {os.cpu_count()} cores: clients {client_cpu:.1f} (Locust, "
            f"startup included), gunicorn {server_cpu:.1f} (master and every worker; PostgreSQL not counted)"
        )
        say(f"load average after: {harness.load_average()}")
        return passed

    def clean_up() -> None:
        server.stop()
        harness.drop_database(database)
        shutil.rmtree(workdir, ignore_errors=True)

    return harness.verdict(run, clean_up, failure="5xx answers, socket errors or errors in simulated users (see above)")


if __name__ == "__main__":
    raise SystemExit(main())
