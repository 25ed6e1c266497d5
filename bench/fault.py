"""Fault injection: restart PostgreSQL under a write load and check the app survives it.

    .venv/bin/python bench/fault.py [--port 8301] [--pg-port 5544] [--passes persistent,pool]
        [--scenarios restart,redis,worker,lock] [--redis-port 6390]

`--scenarios` also runs those of `bench/fault_scenarios.py` on the same cluster: Redis stopped,
a job worker killed, a table locked (see there). What follows is the `restart` scenario.

Starts a throwaway PostgreSQL cluster of its own (initdb into a temporary directory, trust auth,
127.0.0.1:--pg-port; the machine's cluster is never touched), migrates a database there, seeds one
account per writer, and for each pass starts the app under gunicorn with production settings and
no rate limits (every THROTTLE_* variable set empty):

- `persistent`: the default database settings (persistent connections with health checks);
- `pool`: `DATABASE_POOL=true` (psycopg's connection pool).

A few writer threads create tasks in a loop, recording every answer (status, body, latency, the
id of every task answered 201), while a poller asks `/health/ready` (the load of
`bench/fault_scenarios.py`). Midway the cluster is stopped
(`pg_ctl stop -m fast`; `--stop-mode immediate` for a crash instead), left down for a few seconds,
and started again. Then it checks:

- during the outage, creates fail fast (p99 under 5 s) with a JSON 503 carrying Retry-After;
- `/health/ready` answers 503 naming the database during the outage, and 200 after it;
- creates succeed again by themselves (gunicorn is not restarted) within a bounded time;
- every task answered 201 is in the database afterwards (read directly with psycopg);
- nothing but 201 and 503 is answered, and no request goes unanswered (no socket error).

Prints a summary per pass and exits 1 when any check fails, 2 when the benchmark cannot run.
The server, the cluster and its directory are removed whatever happens.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(Path(__file__).resolve().parent.parent)  # import `bench.harness` from the root

from bench.fault_scenarios import (  # noqa: E402
    SCENARIOS,
    Account,
    Answer,
    Check,
    Load,
    create_task,
    get,
    milliseconds,
    percentile,
    status_counts,
    stored_titles,
)
from bench.harness import (  # noqa: E402
    BenchError,
    Gunicorn,
    port_is_free,
    production_env,
    say,
    seed,
    setup_django,
    token_pair,
    verdict,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
DATABASE = "tasks"
PASSWORD = "bench-fault-password-1"  # noqa: S105 (the seeded accounts' password, not a secret)
PASSES = {"persistent": {}, "pool": {"DATABASE_POOL": "true"}}
WRITERS = 4
WRITER_PAUSE = 0.02  # seconds between a writer's requests
HEALTH_INTERVAL = 0.25
BEFORE_SECONDS = 4.0
OUTAGE_SECONDS = 5.0
RECOVERY_TIMEOUT = 20.0  # the app must be creating tasks again this soon after PostgreSQL is back
AFTER_SECONDS = 4.0
LOGGED_503 = '"message": "Service Unavailable: '  # django.request's line for each 503
LOGGED_PROBE = '"message": "Readiness check _database failed"'  # common.health's line for each failed probe
FAIL_FAST_SECONDS = 5.0  # p99 latency bound during the outage (the app's connect timeout is 3 s)


class Cluster:
    """A throwaway PostgreSQL cluster in `directory`, on 127.0.0.1:`port`, with trust auth.

    PostgreSQL refuses to run as root, so as root its programs run as the `postgres` user
    (through runuser), which then owns the directory.
    """

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.running = False
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        self.as_user = [runuser, "-u", PG_USER, "--"] if os.getuid() == 0 else []

    def url(self, database: str) -> str:
        return f"postgres://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, timeout: float = 90) -> None:
        command = [*self.as_user, str(PG_BIN / program), *args]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{program} {' '.join(args)} did not finish within {timeout:.0f} s") from exc
        if result.returncode != 0:
            raise BenchError(f"{program} {' '.join(args)} failed:\n{result.stdout}{result.stderr}\n{self.log_tail()}")

    def init(self) -> None:
        """initdb with trust auth for local and 127.0.0.1 connections."""
        if not port_is_free(self.port):
            raise BenchError(f"port {self.port} is already in use on 127.0.0.1: choose another with --pg-port")
        if self.as_user:
            owner = pwd.getpwnam(PG_USER)
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", PG_USER, "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"
        )

    def start(self) -> None:
        """Start and wait until the cluster accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self.running = True
        log = str(self.directory / "postgres.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop and wait until the cluster is down (`fast`: clients are disconnected, no wait for them)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def destroy(self) -> None:
        """Stop the cluster if it runs and remove its directory."""
        try:
            if self.running or (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # a constant name

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.directory / "postgres.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Timeline:
    """When the outage was caused and ended, on the pass clock."""

    stop_requested: float = 0.0
    stopped: float = 0.0
    start_requested: float = 0.0
    started: float = 0.0
    recovered: float | None = None


def wait_for_recovery(load: Load, since: float, timeout: float) -> float | None:
    """The time of the first create sent after `since` that was answered 201, waiting up to `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        created = [a.ended for a in list(load.answers) if a.kind == "create" and a.started >= since and a.status == 201]
        if created:
            return min(created)
        time.sleep(0.1)
    return None


def database_check(poll: Answer) -> str | None:
    """What `/health/ready` said of the database."""
    return poll.body.get("checks", {}).get("database") if isinstance(poll.body, dict) else None


@dataclass
class PassResult:
    """What one pass observed, and what the database holds afterwards."""

    name: str
    timeline: Timeline
    attempts: list[Answer]  # creates
    polls: list[Answer]  # /health/ready
    stored: dict[int, str]  # id -> title of this pass's tasks in the database
    log_problems: list[str]  # error lines of the server's log, other than those expected in an outage
    logged: tuple[int, int]  # ERROR lines of django.request for 503s, and of failed readiness probes


def run_pass(
    name: str, cluster: Cluster, env: dict[str, str], args: argparse.Namespace, users: list[Account]
) -> PassResult:
    """Start the app, load it, restart PostgreSQL midway, stop; everything recorded."""
    server = Gunicorn(env | PASSES[name], args.port, cluster.directory / f"gunicorn-{name}.log")
    load = Load(server.url)
    for index, user in enumerate(users):
        load.add("create", create_task(user, f"fault-{name}-{index}"), WRITER_PAUSE, title=f"fault-{name}-{index}")
    load.add("ready", get("/health/ready"), HEALTH_INTERVAL)
    timeline = Timeline()
    try:
        server.start()
        load.start()
        time.sleep(BEFORE_SECONDS)
        timeline.stop_requested = load.clock.now()
        cluster.stop(args.stop_mode)
        timeline.stopped = load.clock.now()
        time.sleep(OUTAGE_SECONDS)
        timeline.start_requested = load.clock.now()
        cluster.start()
        timeline.started = load.clock.now()
        timeline.recovered = wait_for_recovery(load, timeline.started, RECOVERY_TIMEOUT)
        time.sleep(AFTER_SECONDS)
    finally:
        answers = load.finish()
        if not cluster.running:
            cluster.start()
        server.stop()
    stored = stored_titles(cluster, f"fault-{name}-")
    logged = (server.log_count(LOGGED_503), server.log_count(LOGGED_PROBE))
    problems = server.log_problems(expected=(LOGGED_503, LOGGED_PROBE))
    creates, polls = [a for a in answers if a.kind == "create"], [a for a in answers if a.kind == "ready"]
    return PassResult(name, timeline, creates, polls, stored, problems, logged)


@dataclass(frozen=True)
class Phases:
    """A pass's creates split by when they ran relative to the outage."""

    before: list[Answer]
    outage: list[Answer]  # overlapping [stop requested, PostgreSQL accepting again]
    after: list[Answer]
    after_recovery: list[Answer]

    @classmethod
    def split(cls, attempts: Sequence[Answer], timeline: Timeline) -> Phases:
        recovered = timeline.recovered
        return cls(
            before=[a for a in attempts if a.ended < timeline.stop_requested],
            outage=[a for a in attempts if a.ended >= timeline.stop_requested and a.started <= timeline.started],
            after=[a for a in attempts if a.started > timeline.started],
            after_recovery=[a for a in attempts if recovered is not None and a.started > recovered],
        )


def is_json_503(attempt: Answer) -> bool:
    """A 503 in the API's error shape, with Retry-After."""
    return (
        attempt.status == 503
        and isinstance(attempt.body, dict)
        and attempt.code == "service_unavailable"
        and bool(attempt.retry_after)
    )


def example(attempts: Sequence[Answer]) -> str:
    """The first of `attempts`, briefly, for a check's detail."""
    if not attempts:
        return ""
    first = attempts[0]
    return f"; e.g. {first.status} {first.error or str(first.body)[:300]!r}"


def answer_checks(result: PassResult, phases: Phases) -> list[Check]:
    """Before the outage everything is created; during it, refusals are quick JSON 503s."""
    refused = [a for a in phases.outage if a.status != 201]
    latencies = [a.latency for a in phases.outage]
    p99, slowest = percentile(latencies, 0.99), max(latencies, default=float("nan"))
    stray = [a for a in result.attempts if a.status not in (201, 503)]
    malformed = [a for a in result.attempts if a.status == 503 and not is_json_503(a)]
    not_created = [a for a in phases.before if a.status != 201]
    return [
        Check(
            "creates before the outage all 201",
            bool(phases.before) and not not_created,
            f"{len(phases.before)} creates: {status_counts(a.status for a in phases.before)}{example(not_created)}",
        ),
        Check("the outage was felt: creates refused", bool(refused), f"{len(refused)} of {len(phases.outage)}"),
        Check(
            f"outage latency p99 under {FAIL_FAST_SECONDS:.0f} s (no hang)",
            bool(latencies) and p99 < FAIL_FAST_SECONDS,
            f"p99 {milliseconds(p99)} ms, max {milliseconds(slowest)} ms",
        ),
        Check("every 503 is JSON with Retry-After", not malformed, f"{len(malformed)} malformed{example(malformed)}"),
        Check(
            "only 201 and 503 answered, no socket error",
            not stray,
            f"{len(stray)} others: {status_counts(a.status for a in stray)}{example(stray)}",
        ),
    ]


def health_checks(result: PassResult) -> list[Check]:
    """`/health/ready` names the database while it is down, and is 200 once the app recovered."""
    timeline, recovered = result.timeline, result.timeline.recovered
    # Asked once the stop was requested (PostgreSQL refuses new connections from its signal on; a
    # poll sent before may have found the database up) and answered before the start was requested
    # (`pg_ctl start` returns once the server accepts connections). With the pool, a probe waits
    # seconds for a connection: one sent after `pg_ctl stop` began but before it returned counts too.
    down = [p for p in result.polls if timeline.stop_requested <= p.started and p.ended <= timeline.start_requested]
    up = [p for p in result.polls if recovered is not None and p.started > recovered]
    slowest = max((p.ended - p.started for p in down), default=float("nan"))
    named = ", ".join(sorted({str(database_check(p)) for p in down}))
    return [
        Check(
            "/health/ready 503 naming the database during the outage",
            bool(down) and all(p.status == 503 and database_check(p) == "unavailable" for p in down),
            f"{len(down)} polls: {status_counts(p.status for p in down)}, database: {named}, "
            f"max {milliseconds(slowest)} ms",
        ),
        Check(
            "/health/ready 200 after recovery",
            bool(up) and all(p.status == 200 and database_check(p) == "ok" for p in up),
            f"{len(up)} polls: {status_counts(p.status for p in up)}",
        ),
    ]


def recovery_checks(result: PassResult, phases: Phases) -> list[Check]:
    """Creates succeed again soon after PostgreSQL is back, and keep succeeding."""
    recovered, started = result.timeline.recovered, result.timeline.started
    failing = [a for a in phases.after_recovery if a.status != 201]
    return [
        Check(
            f"recovers by itself within {RECOVERY_TIMEOUT:.0f} s (gunicorn not restarted)",
            recovered is not None,
            "never" if recovered is None else f"first 201 {recovered - started:.2f} s after PostgreSQL was back",
        ),
        Check(
            "every create after recovery 201",
            recovered is not None and not failing,
            f"{len(phases.after_recovery)} creates: {status_counts(a.status for a in phases.after_recovery)}",
        ),
    ]


def write_checks(result: PassResult) -> list[Check]:
    """Every task answered 201 is stored, under the title sent."""
    answered = {a.task_id: a.title for a in result.attempts if a.task_id is not None}
    lost = sorted(task_id for task_id, title in answered.items() if result.stored.get(task_id) != title)
    return [
        Check(
            "every task answered 201 is in the database",
            not lost,
            f"{len(answered)} answered 201, {len(lost)} missing" + (f": ids {lost[:10]}" if lost else ""),
        )
    ]


def poll_runs(polls: Sequence[Answer]) -> str:
    """Consecutive polls with the same answer as one run: '3.77-4.04 s: 200 database ok (x2), ...'."""
    runs: list[tuple[Answer, Answer, int]] = []
    for poll in polls:
        if runs and (runs[-1][0].status, database_check(runs[-1][0])) == (poll.status, database_check(poll)):
            first, _, count = runs[-1]
            runs[-1] = (first, poll, count + 1)
        else:
            runs.append((poll, poll, 1))
    return ", ".join(
        f"{first.started:.2f}-{last.ended:.2f} s: {first.status} database {database_check(first)} (x{count})"
        for first, last, count in runs
    )


def summarize(result: PassResult, phases: Phases) -> None:
    """The pass's numbers: requests per phase, statuses, outage, recovery, latencies."""
    timeline = result.timeline
    say(f"pass {result.name}: {len(result.attempts)} creates by {WRITERS} writers, {len(result.polls)} health polls")
    for label, group in (("before", phases.before), ("during", phases.outage), ("after", phases.after)):
        latencies = [a.latency for a in group]
        say(
            f"  {label:<7}{len(group):>6} requests  {status_counts(a.status for a in group):<24}"
            f" p50 {milliseconds(percentile(latencies, 0.5))} ms, p99 {milliseconds(percentile(latencies, 0.99))} ms,"
            f" max {milliseconds(max(latencies, default=float('nan')))} ms"
        )
    say(
        f"  outage: stop requested at {timeline.stop_requested:.2f} s, down at {timeline.stopped:.2f} s, "
        f"start at {timeline.start_requested:.2f} s, accepting at {timeline.started:.2f} s "
        f"({timeline.started - timeline.stop_requested:.2f} s without a database)"
    )
    end = timeline.recovered if timeline.recovered is not None else timeline.started
    near = [p for p in result.polls if p.ended >= timeline.stop_requested - 0.5 and p.started <= end + 0.5]
    say(f"  /health/ready around the outage: {poll_runs(near)}")
    refused = [a for a in result.attempts if a.status != 201]
    if refused:
        say(f"  refusals from {min(a.started for a in refused):.2f} s to {max(a.ended for a in refused):.2f} s")
    if timeline.recovered is not None:
        say(f"  time to recovery: {timeline.recovered - timeline.started:.2f} s after PostgreSQL accepted connections")
    answered = {a.title for a in result.attempts if a.task_id is not None}
    ghosts = [title for title in result.stored.values() if title not in answered]
    say(f"  stored: {len(result.stored)} tasks of this pass; {len(ghosts)} stored although not answered 201")
    say(
        f"  server log, ERROR lines: {result.logged[0]} 503s (django.request), {result.logged[1]} failed readiness "
        f"probes with traceback (common.health), {len(result.log_problems)} others"
    )
    for line in result.log_problems[:5]:
        say(f"    {line[:300]}")


def report(result: PassResult) -> bool:
    """Print a pass's summary and checks; True when every check held."""
    phases = Phases.split(result.attempts, result.timeline)
    summarize(result, phases)
    checks = [
        *answer_checks(result, phases),
        *health_checks(result),
        *recovery_checks(result, phases),
        *write_checks(result),
        Check(
            "no unexpected error in the server log",
            not result.log_problems,
            f"{len(result.log_problems)} lines other than 503s and failed readiness probes",
        ),
    ]
    for check in checks:
        say(f"  [{'ok' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
    return all(check.passed for check in checks)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8301, help="port for gunicorn on 127.0.0.1, default 8301")
    parser.add_argument("--pg-port", type=int, default=5544, help="port for the throwaway cluster, default 5544")
    parser.add_argument(
        "--passes", default="persistent,pool", help="restart scenario, comma-separated: persistent, pool (default both)"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(("restart", *SCENARIOS)),
        help=f"comma-separated: restart (PostgreSQL restarted), {', '.join(SCENARIOS)} (default all)",
    )
    parser.add_argument("--redis-port", type=int, default=6390, help="port for the redis scenario's own Redis")
    parser.add_argument(
        "--stop-mode",
        choices=("fast", "immediate"),
        default="fast",
        help="pg_ctl stop mode: fast (clean shutdown, default) or immediate (a crash: WAL replay on start)",
    )
    args = parser.parse_args()
    args.passes = [name.strip() for name in args.passes.split(",") if name.strip()]
    if not args.passes or any(name not in PASSES for name in args.passes):
        parser.error(f"--passes takes names among {', '.join(PASSES)}")
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    if not args.scenarios or any(name not in ("restart", *SCENARIOS) for name in args.scenarios):
        parser.error(f"--scenarios takes names among restart, {', '.join(SCENARIOS)}")
    if args.redis_port == 6379:
        parser.error("--redis-port 6379 is the machine's Redis: choose another port")
    if args.pg_port == 5432:
        parser.error("--pg-port 5432 is the machine's cluster: choose another port")
    return args


def accounts(prefix: str, count: int) -> list[Account]:
    """`count` seeded accounts (no tasks), each with a session."""
    users = seed(prefix=prefix, users=count, tasks_per_user=0, password=PASSWORD)
    return [Account(user.email, token_pair(user)[0]) for user in users]


def main() -> int:
    """Set up the cluster, run each pass, report, and always tear down; the exit status."""
    args = parse_args()
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="bench-fault-")), args.pg_port)
    # The machine's Redis for the scenarios that do not stop it; the redis scenario starts its own.
    env = production_env(cluster.url(DATABASE))

    def run() -> bool:
        cluster.init()
        cluster.start()
        cluster.create_database(DATABASE)
        setup_django(env)
        writers, scenario_users = accounts("fault", WRITERS), accounts("scenario", 4)
        say(
            f"throwaway PostgreSQL on 127.0.0.1:{args.pg_port} in {cluster.directory}; gunicorn on port "
            f"{args.port}, 2 sync workers, DEBUG off, rate limits off (THROTTLE_* set empty)"
        )
        results = []
        if "restart" in args.scenarios:
            say(f"scenario restart: pg_ctl stop -m {args.stop_mode}, then start, under writes")
            results += [report(run_pass(name, cluster, env, args, writers)) for name in args.passes]
        for name in args.scenarios:
            if name != "restart":
                results.append(SCENARIOS[name](cluster, env, args, scenario_users, PASSWORD))
        return all(results)

    def clean_up() -> None:
        cluster.destroy()

    return verdict(run, clean_up, failure="see the checks above")


if __name__ == "__main__":
    raise SystemExit(main())
