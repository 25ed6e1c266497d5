"""`make fault`: on a throwaway PostgreSQL cluster, under load, PostgreSQL restarted, Redis stopped, a job worker
killed, a table locked; figures before, during and after each. See bench/README.md and docs/reliability.md."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # import `bench.harness` from the root

from bench import harness  # noqa: E402
from bench.harness import Check, Gunicorn, ms, percentile, say, status_counts  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
DATABASE = "tasks"
PASSWORD = "bench-fault-password-1"  # noqa: S105 (the seeded accounts' password, not a secret)
USERS = 4  # the restart's writers; the other scenarios give each its part
GUNICORN_WORKERS = 2  # production_env's WEB_CONCURRENCY
REQUEST_TIMEOUT = 40.0  # longer than gunicorn's own timeout: a hang shows as a slow answer, not a drop
MAX_REQUESTS_PER_LOOP = 5_000
TASKS, LOGIN = "/api/v1/tasks/", "/api/v1/auth/login"


class Stage:
    """What the scenarios run on: a throwaway PostgreSQL cluster on 127.0.0.1 (trust auth) with the app's database,
    the app's production environment, and seeded accounts. PostgreSQL refuses to run as root, so as root its
    programs run as the `postgres` user (runuser), which then owns the directory."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.directory = args, Path(tempfile.mkdtemp(prefix="bench-fault-"))
        self.data, self.pg_server = self.directory / "data", f"postgresql://{PG_USER}@127.0.0.1:{args.pg_port}"
        self.url = harness.database_url(DATABASE, self.pg_server)
        self.as_user = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", PG_USER, "--"] if os.getuid() == 0 else []
        self.env: dict[str, str] = {}
        self.users: list[Account] = []

    def create(self) -> None:
        if not harness.port_is_free(self.args.pg_port):
            raise harness.BenchError(f"port {self.args.pg_port} is already in use: choose another with --pg-port")
        if self.as_user:
            owner = pwd.getpwnam(PG_USER)
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self.run("initdb", "-D", str(self.data), "-U", PG_USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        self.start()
        harness.create_database(DATABASE, self.pg_server)
        # The machine's Redis (BENCH_REDIS_URL) for the scenarios that do not stop it; the redis one starts its own.
        self.env = harness.production_env(self.url)
        harness.setup_django(self.env)
        users = harness.seed(prefix="fault", users=USERS, tasks_per_user=0, password=PASSWORD)
        self.users = [Account(user.email, {"Authorization": f"Bearer {harness.token_pair(user)[0]}"}) for user in users]

    def run(self, program: str, *args: str) -> None:
        try:
            subprocess.run(
                [*self.as_user, str(PG_BIN / program), *args], stdout=subprocess.DEVNULL, timeout=90, check=True
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log = self.directory / "postgres.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
            raise harness.BenchError(f"{exc}\n{tail}") from exc

    # pg_ctl waits (60 s at most) until the cluster accepts connections, or is down.
    def start(self) -> None:
        options = f"-p {self.args.pg_port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.directory / "postgres.log"), "-o", options)

    def stop(self, mode: str) -> None:
        """`fast`: clients disconnected; `immediate`: a crash."""
        self.run("pg_ctl", "stop", "-D", str(self.data), "-m", mode)

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def query(self, statement: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def server(self, name: str, **env: str) -> Gunicorn:
        return Gunicorn(self.env | env, self.args.port, self.directory / f"gunicorn-{name}.log")


def end(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to `process` (nothing if it has ended), SIGKILL if it still runs 15 s later."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# The load and its figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    email: str
    headers: dict[str, str]  # the Authorization of a session of its own


@dataclass(frozen=True)
class Answer:
    """One request of the load: its kind, when it ran (on the load's clock), what came back (None: nothing)."""

    kind: str
    started: float
    ended: float
    status: int | None
    body: dict[str, Any]  # its JSON
    title: str  # of the task a create sent
    json_503: bool = False  # a 503 in the API's error shape, with Retry-After
    error: str = ""

    @property
    def latency(self) -> float:
        return self.ended - self.started

    def health(self, part: str) -> str | None:
        """What `/health/ready` said of `part` (database, cache)."""
        return self.body.get("checks", {}).get(part)


class Load:
    """Threads that each send one kind of request to `server` in a loop, recording every answer, while a
    scenario causes its failure and marks when (the window: from the first mark to the last), on one clock."""

    def __init__(self, server: Gunicorn) -> None:
        self.server, self.clock, self.stop = server, harness.Clock(), threading.Event()
        self.answers: list[Answer] = []
        self.marks: dict[str, float] = {}
        self.threads: dict[threading.Thread, str] = {}  # and the kind each sends
        self.window = (math.inf, math.inf)

    def add(
        self, kind: str, pause: float, method: str, path: str, user: Account | None = None, title: str = "", **sent: Any
    ) -> None:
        """A thread sending the request every `pause` s as `user`; with a `title`, it creates tasks `<title>-<n>`."""

        def loop() -> None:
            headers = user.headers if user else None
            with httpx.Client(base_url=self.server.url, timeout=REQUEST_TIMEOUT, headers=headers) as http:
                for sequence in range(MAX_REQUESTS_PER_LOOP):
                    task = f"{title}-{sequence}" if title else ""
                    request = http.build_request(method, path, json={"title": task} if title else None, **sent)
                    self.answers.append(self.ask(kind, http, request, task))
                    if self.stop.wait(pause):
                        return

        self.threads[threading.Thread(target=loop, daemon=True)] = kind

    def ask(self, kind: str, http: httpx.Client, request: httpx.Request, title: str) -> Answer:
        started = self.clock.now()
        try:
            response = http.send(request)
        except httpx.RequestError as exc:
            return Answer(kind, started, self.clock.now(), None, {}, title, error=f"{type(exc).__name__}: {exc}")
        body: Any = {}
        if "json" in response.headers.get("content-type", ""):  # application/json, application/problem+json
            # A body that does not parse, or is not an object, is recorded as none: the load thread goes on.
            with contextlib.suppress(ValueError):
                body = response.json()
        body = body if isinstance(body, dict) else {}
        status = response.status_code
        json_503 = status == 503 and body.get("code") == "service_unavailable" and "retry-after" in response.headers
        return Answer(kind, started, self.clock.now(), status, body, title, json_503)

    def mark(self, name: str) -> None:
        self.marks[name] = self.clock.now()

    def run(self, before: float, cause: Callable[[], None], after: float) -> None:
        """Serve and load; after `before` s `cause` the failure (it marks its times), then `after` s more."""
        started: list[threading.Thread] = []
        try:
            self.server.start()
            self.clock = harness.Clock()
            for thread in self.threads:
                thread.start()
                started.append(thread)
            time.sleep(before)
            cause()
            time.sleep(after)
        finally:
            self.stop.set()
            # The load ends before the server does: a request sent to a stopping server would count as a
            # socket error. The server is stopped even if a join fails.
            try:
                for thread in started:
                    thread.join(timeout=REQUEST_TIMEOUT + 5)
            finally:
                self.server.stop()
        self.window = (min(self.marks.values()), max(self.marks.values()))

    def print_phases(self) -> None:
        """The marks, and each kind's figures before, during and after the window."""
        marks = ", ".join(f"{name} at {at:.2f} s" for name, at in self.marks.items())
        say(f"  {len(self.answers)} answers; {marks} ({self.window[1] - self.window[0]:.2f} s of failure)")
        for kind in dict.fromkeys(self.threads.values()):
            for phase in (self.before, self.during, self.after):
                answers = phase(kind)
                latencies = [a.latency for a in answers]
                say(
                    f"  {kind:<7}{phase.__name__:<7}{len(answers):>5} requests  {statuses(answers):<28} "
                    f"p50 {ms(percentile(latencies, 0.5))} ms, p99 {ms(percentile(latencies, 0.99))} ms, "
                    f"max {ms(max(latencies, default=math.nan))} ms"
                )

    def of(self, kind: str | None) -> list[Answer]:
        return [a for a in self.answers if kind in (None, a.kind)]

    def before(self, kind: str | None = None) -> list[Answer]:
        return [a for a in self.of(kind) if a.ended < self.window[0]]

    def during(self, kind: str | None = None) -> list[Answer]:
        return [a for a in self.of(kind) if a.ended >= self.window[0] and a.started <= self.window[1]]

    def after(self, kind: str | None = None, settle: float = 0.0) -> list[Answer]:
        return [a for a in self.of(kind) if a.started > self.window[1] + settle]


def statuses(answers: Sequence[Answer]) -> str:
    return status_counts(a.status for a in answers)


def example(answers: Sequence[Answer]) -> str:
    """The first of `answers`, briefly, for a check's detail."""
    first = answers[0] if answers else None
    return f"; e.g. {first.kind} {first.status} {first.error or str(first.body)[:300]!r}" if first else ""


def expect(
    name: str,
    answers: Sequence[Answer],
    *allowed: int,
    ok: Callable[[Answer], bool] | None = None,
    max_latency: bool = False,
    **health: str,
) -> Check:
    """The check that there are answers, each with a status among `allowed` (if given), `ok` (if given), and
    what `/health/ready` said of each part in `health`. The detail names what was said of those parts, and
    with `max_latency` the slowest answer's latency."""

    def right(a: Answer) -> bool:
        parts = all(a.health(part) == said for part, said in health.items())
        return (not allowed or a.status in allowed) and (ok is None or ok(a)) and parts

    wrong = [a for a in answers if not right(a)]
    detail = f"{len(answers)} answers: {statuses(answers)}"
    for part in health:
        detail += f", {part}: {', '.join(sorted({str(a.health(part)) for a in answers}))}"
    if max_latency:
        detail += f", max {ms(max((a.latency for a in answers), default=math.nan))} ms"
    return Check(name, bool(answers) and not wrong, detail + example(wrong))


def write_check(stage: Stage, answers: Sequence[Answer], prefix: str, name: str = "every 2xx write kept") -> Check:
    """Every create answered 201 is in the database under the title sent; prints the figures."""
    acknowledged = {a.body["id"]: a.title for a in answers if a.kind == "create" and a.status == 201}
    stored = dict(stage.query("SELECT id, title FROM tasks_task WHERE title LIKE %s", (prefix + "%",)))
    lost = sorted(task_id for task_id, title in acknowledged.items() if stored.get(task_id) != title)
    figures = f"{len(acknowledged)} writes acknowledged (201), {len(stored)} rows found, {len(lost)} missing"
    say(f"  writes: {figures}, {len(stored.keys() - acknowledged.keys())} stored although not answered 201")
    return Check(name, not lost, figures + (f": {lost[:10]}" if lost else ""))


def no_server_errors(answers: Sequence[Answer]) -> Check:
    broken = [a for a in answers if a.status is None or (a.status >= 500 and a.status != 503)]
    detail = f"{len(answers)} answers, {sum(a.status == 500 for a in answers)} of 500, {len(broken)} others broken"
    return Check("0 responses of 500, no socket error", not broken, detail + example(broken))


def report(checks: Sequence[Check]) -> bool:
    passed = harness.print_checks(checks)
    say(f"  {'PASS' if passed else 'FAIL'}")
    return passed


# PostgreSQL restarted -----------------------------------------------------------------------------
PASSES = {"persistent": {}, "pool": {"DATABASE_POOL": "true"}}
RESTART_BEFORE, RESTART_OUTAGE, RESTART_AFTER = 4.0, 5.0, 4.0
RECOVERY_TIMEOUT = 20.0  # the app must be creating tasks again this soon after PostgreSQL is back
FAIL_FAST_SECONDS = 5.0  # p99 latency bound during the outage (the app's connect timeout is 3 s)
LOGGED_503 = '"message": "Service Unavailable: '  # django.request's line for each 503
LOGGED_PROBE = '"message": "Readiness check _database failed"'  # common.health's line for each failed probe


def first_201(creates: Sequence[Answer], since: float) -> float | None:
    """When the first of `creates` sent after `since` was answered 201."""
    return min((a.ended for a in creates if a.started >= since and a.status == 201), default=None)


def poll_runs(polls: Sequence[Answer]) -> str:
    """Consecutive polls with the same answer as one run: '3.77-4.04 s: 200 database ok (x2), ...'."""
    runs = []
    for (status, database), group in itertools.groupby(polls, key=lambda p: (p.status, p.health("database"))):
        run = list(group)
        runs.append(f"{run[0].started:.2f}-{run[-1].ended:.2f} s: {status} database {database} (x{len(run)})")
    return ", ".join(runs)


def restart(stage: Stage) -> bool:
    say(f"scenario restart: pg_ctl stop -m {stage.args.stop_mode}, then start, under writes")
    return all([restart_pass(stage, name, env) for name, env in PASSES.items()])  # noqa: C419 (every pass runs)


def restart_pass(stage: Stage, name: str, env: dict[str, str]) -> bool:
    load = Load(stage.server(name, **env))
    for index, user in enumerate(stage.users):
        load.add("create", 0.02, "POST", TASKS, user, title=f"fault-{name}-{index}")
    load.add("ready", 0.25, "GET", "/health/ready")

    def outage() -> None:
        load.mark("stop requested")
        stage.stop(stage.args.stop_mode)
        load.mark("down")
        time.sleep(RESTART_OUTAGE)
        load.mark("start requested")
        stage.start()
        load.mark("accepting")
        harness.wait_for(lambda: first_201(load.of("create"), load.marks["accepting"]), RECOVERY_TIMEOUT)

    load.run(RESTART_BEFORE, outage, RESTART_AFTER)
    creates, during, polls, server = load.of("create"), load.during("create"), load.of("ready"), load.server
    recovered = first_201(creates, load.window[1])
    recovery_delay = math.inf if recovered is None else recovered - load.window[1]  # seconds
    say(f"pass {name}: {len(creates)} creates by {USERS} writers, {len(polls)} health polls")
    load.print_phases()
    settled = load.window[1] if recovered is None else recovered
    near = [p for p in polls if p.ended >= load.window[0] - 0.5 and p.started <= settled + 0.5]
    say(f"  /health/ready around the outage: {poll_runs(near)}")
    refused = [a for a in creates if a.status != 201]
    if refused:
        say(f"  refusals from {min(a.started for a in refused):.2f} s to {max(a.ended for a in refused):.2f} s")
    problems = server.log_problems(expected=(LOGGED_503, LOGGED_PROBE))
    logged = f"{server.log_count(LOGGED_503)} 503s (django.request), {server.log_count(LOGGED_PROBE)} failed readiness"
    say(f"  server log, ERROR lines: {logged} probes with traceback (common.health), {len(problems)} others")
    for line in problems[:5]:
        say(f"    {line[:300]}")
    latencies = [a.latency for a in during]
    p99, slowest = percentile(latencies, 0.99), max(latencies, default=math.nan)
    refused_during = [a for a in during if a.status != 201]
    malformed = [a for a in creates if a.status == 503 and not a.json_503]
    # Polls sent once the stop was requested and answered before the start was (`pg_ctl start` returns once
    # PostgreSQL accepts connections); with the pool, a probe sent while `pg_ctl stop` ran waits seconds too.
    down = [p for p in polls if load.window[0] <= p.started and p.ended <= load.marks["start requested"]]
    checks = [
        expect("creates before the outage all 201", load.before("create"), 201),
        Check("the outage was felt: creates refused", bool(refused_during), f"{len(refused_during)} of {len(during)}"),
        Check(
            f"outage latency p99 under {FAIL_FAST_SECONDS:.0f} s (no hang)",
            p99 < FAIL_FAST_SECONDS,
            f"p99 {ms(p99)} ms, max {ms(slowest)} ms",
        ),
        Check("every 503 is JSON with Retry-After", not malformed, f"{len(malformed)} malformed{example(malformed)}"),
        expect("only 201 and 503 answered, no socket error", creates, 201, 503),
        expect(
            "/health/ready 503 naming the database during the outage",
            down,
            503,
            max_latency=True,  # with the pool, how long a probe waits for a connection
            database="unavailable",
        ),
        expect("/health/ready 200 after recovery", load.after("ready", settle=recovery_delay), 200, database="ok"),
        Check(
            f"recovers by itself within {RECOVERY_TIMEOUT:.0f} s (gunicorn not restarted)",
            recovery_delay <= RECOVERY_TIMEOUT,
            "never" if recovered is None else f"first 201 {recovery_delay:.2f} s after PostgreSQL was back",
        ),
        expect("every create after recovery 201", load.after("create", settle=recovery_delay), 201),
        write_check(stage, creates, f"fault-{name}-", "every task answered 201 is in the database"),
        Check(
            "no unexpected error in the server log",
            not problems,
            f"{len(problems)} lines other than 503s and failed readiness probes",
        ),
    ]
    return report(checks)


# Redis stopped ------------------------------------------------------------------------------------
REDIS_BEFORE, REDIS_OUTAGE, REDIS_AFTER = 5.0, 15.0, 10.0
CACHE_RETRY_SECONDS = 5.0
LOGIN_FAILURE_LIMIT = 5  # THROTTLE_LOGIN_FAILURES, per minute


def start_redis(log: Path, port: int) -> subprocess.Popen[bytes]:
    """A redis-server of our own on 127.0.0.1:`port`, persistence off; once it listens."""
    if not harness.port_is_free(port):
        raise harness.BenchError(f"port {port} is already in use: choose another with --redis-port")
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--logfile", str(log)]
    process = subprocess.Popen(["redis-server", *options])
    if not harness.wait_for(lambda: not harness.port_is_free(port), 10):
        end(process)  # the caller holds only the server that listened
        raise harness.BenchError(f"redis-server did not listen on port {port}")
    return process


def redis_down(stage: Stage) -> bool:
    port, log = stage.args.redis_port, stage.directory / "redis.log"
    say(f"scenario redis: redis-server on 127.0.0.1:{port} stopped for {REDIS_OUTAGE:.0f} s under a mixed load")
    writer, reader, account, victim = stage.users
    limits = {"THROTTLE_LOGIN_FAILURES": f"{LOGIN_FAILURE_LIMIT}/min", "CACHE_RETRY_SECONDS": str(CACHE_RETRY_SECONDS)}
    load = Load(stage.server("redis", REDIS_URL=f"redis://127.0.0.1:{port}/0", **limits))
    load.add("create", 0.05, "POST", TASKS, writer, title="fault-redis")
    load.add("me", 0.05, "GET", "/api/v1/users/me", reader)
    load.add("login", 0.5, "POST", LOGIN, data={"username": account.email, "password": PASSWORD})
    load.add("guess", 0.25, "POST", LOGIN, data={"username": victim.email, "password": "not-the-password"})
    load.add("ready", 0.5, "GET", "/health/ready")
    own = start_redis(log, port)

    def outage() -> None:
        nonlocal own
        load.mark("stop requested")
        end(own)
        time.sleep(REDIS_OUTAGE)
        own = start_redis(log, port)
        load.mark("back")

    try:
        load.run(REDIS_BEFORE, outage, REDIS_AFTER)
        load.print_phases()
        counters = sum(1 for _ in redis.Redis(port=port, socket_connect_timeout=1).scan_iter("throttle:*"))
    finally:
        end(own)
    expected = {"create": {201}, "me": {200}, "login": {200}, "guess": {401, 429}, "ready": {200}}
    guesses, polls = load.during("guess"), load.during("ready")
    # Counters count in fixed windows of the wall clock; a process's own starts from 0 in each.
    minutes = int((load.clock.origin + load.window[1]) // 60) - int((load.clock.origin + load.window[0]) // 60) + 1
    bound = LOGIN_FAILURE_LIMIT * GUNICORN_WORKERS * minutes
    degraded = [a for a in polls if a.health("cache") == "degraded"]
    after = load.after("ready", settle=CACHE_RETRY_SECONDS + 1)
    healthy_after = [a for a in after if a.status == 200 and a.health("cache") == "ok"]
    logged = load.server.log_count('"event": "cache_unavailable"')
    checks = [
        no_server_errors(load.answers),
        expect(
            "during the outage: creates 201, me 200, logins 200, guesses 401/429, readiness 200",
            load.during(),
            ok=lambda a: a.status in expected[a.kind],
        ),
        write_check(stage, load.answers, "fault-redis"),
        Check(
            "limits still refuse a guessing client during the outage",
            any(a.status == 429 for a in guesses) and sum(a.status == 401 for a in guesses) <= bound,
            f"{len(guesses)} guesses: {statuses(guesses)} (at most {LOGIN_FAILURE_LIMIT}/min per process, "
            f"{minutes} minute window(s): {bound} allowed at most)",
        ),
        Check(
            "/health/ready 200 with the cache degraded during the outage, ok after",
            all(a.status == 200 for a in polls) and bool(degraded) and len(healthy_after) == len(after) > 0,
            f"during: {len(polls)} polls, {len(degraded)} degraded; after: {len(healthy_after)} of {len(after)} ok",
        ),
        Check(
            "Redis used again after it is back (no restart)",
            counters > 0,
            f"{counters} throttle counters in the restarted Redis",
        ),
        Check(
            "the outage logged once per process and cache",
            0 < logged <= GUNICORN_WORKERS * 2,
            f"{logged} cache_unavailable lines ({GUNICORN_WORKERS} workers, 2 caches)",
        ),
    ]
    return report(checks)


# A job worker killed ------------------------------------------------------------------------------
JOB_STALE_AFTER_SECONDS = 6  # and JOB_MAX_RUN_SECONDS 4: seconds, not minutes
SLOW_JOBS, SLOW_JOB_SECONDS, NEW_USERS, RESETS = 3, 2.0, 4, 2
JOB_TABLE = "django_tasks_database_dbtaskresult"
# A slow job (bench/jobs.py) that started running within the last second: a kill now lands mid-job.
RUNNING_SLOW_JOB = (
    f"SELECT id::text FROM {JOB_TABLE} WHERE status = 'RUNNING' AND task_path = 'bench.jobs.slow_job' "  # noqa: S608
    "AND started_at > now() - interval '1 second'"
)
ENQUEUE_SLOW_JOBS = (
    "from bench.jobs import slow_job\n"
    f"for n in range({SLOW_JOBS}): slow_job.enqueue(seconds={SLOW_JOB_SECONDS}, label=f'slow-{{n}}')"
)


def worker_killed(stage: Stage) -> bool:
    say("scenario worker: db_worker killed with SIGKILL in the middle of a slow job, then started again")
    limits = {"JOB_MAX_RUN_SECONDS": "4", "JOB_STALE_AFTER_SECONDS": str(JOB_STALE_AFTER_SECONDS)}
    server = stage.server("worker", TASK_BACKEND="database", **limits)
    admin, log_path = stage.users[0], stage.directory / "db-worker.log"
    stage.query("UPDATE accounts_user SET role = 'admin' WHERE email = %s", (admin.email,))
    new_emails = [f"fault-new-{n}@example.com" for n in range(NEW_USERS)]
    workers: list[subprocess.Popen[bytes]] = []
    clock = harness.Clock()

    def start_worker() -> None:
        with log_path.open("ab") as log:
            command = [str(harness.PYTHON), "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2"]
            workers.append(subprocess.Popen(command, cwd=harness.ROOT, env=server.env, stdout=log, stderr=log))

    def jobs() -> list[tuple[Any, ...]]:
        return stage.query(f"SELECT id::text, status, worker_ids FROM {JOB_TABLE}")  # noqa: S608

    try:
        server.start()
        start_worker()
        enqueue = [str(harness.PYTHON), "manage.py", "shell", "--no-imports", "-c", ENQUEUE_SLOW_JOBS]
        if subprocess.run(enqueue, cwd=harness.ROOT, env=server.env, capture_output=True, timeout=120).returncode:
            raise harness.BenchError("could not enqueue the slow jobs")
        with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT, headers=admin.headers) as http:
            sent = [http.post("/api/v1/users/", json={"email": email, "password": PASSWORD}) for email in new_emails]
            resets = stage.users[1 : 1 + RESETS]
            sent += [http.post("/api/v1/auth/password-reset", json={"email": user.email}) for user in resets]
        running = harness.wait_for(lambda: stage.query(RUNNING_SLOW_JOB), timeout=20)
        if not running:
            raise harness.BenchError("no slow job started running")
        killed, killed_at = running[0][0], clock.now()
        workers[0].kill()
        start_worker()
        finished = harness.wait_for(lambda: all(row[1] in ("SUCCESSFUL", "FAILED") for row in jobs()), 60)
        done_at = clock.now()
    finally:
        for worker in workers:
            end(worker)
        server.stop()
    codes, rows, log = [response.status_code for response in sent], jobs(), log_path.read_text(errors="replace")
    by_status = Counter(status for _, status, _ in rows)
    queued, completed = SLOW_JOBS + NEW_USERS + RESETS, by_status["SUCCESSFUL"]
    status, claimed = next(((status, len(ids)) for job_id, status, ids in rows if job_id == killed), ("-", 0))
    mails = [log.count(f"To: {email}") for email in new_emails]
    say(f"  enqueues through the API: {status_counts(codes)}")
    say(f"  killed the worker at {killed_at:.2f} s while job {killed} ran; all jobs finished at {done_at:.2f} s")
    say(f"  jobs: {queued} queued, {len(rows)} in the table, {completed} completed; by status {dict(by_status)}")
    say(f"  worker log: {log.count('queued to run again')} job(s) found stale and queued to run again")
    checks = [
        Check("the API queued the mails", codes == [201] * NEW_USERS + [202] * RESETS, status_counts(codes)),
        Check(
            "every queued job completed, none lost",
            bool(finished) and len(rows) == queued == completed,
            f"{queued} queued, {completed} completed",
        ),
        Check(
            "the job running when the worker was killed ran again, by the restarted worker",
            (status, claimed) == ("SUCCESSFUL", 2),
            f"status {status}, claimed {claimed} times",
        ),
        Check(
            "each new user's welcome mail sent once",
            mails == [1] * NEW_USERS,
            f"{', '.join(map(str, mails))} mails per user",
        ),
        Check(
            f"done within stale ({JOB_STALE_AFTER_SECONDS} s) + a sweep + the jobs",
            done_at - killed_at < JOB_STALE_AFTER_SECONDS * 1.5 + SLOW_JOBS * SLOW_JOB_SECONDS + 5,
            f"{done_at - killed_at:.1f} s after the kill",
        ),
    ]
    return report(checks)


# A table locked -----------------------------------------------------------------------------------
LOCK_BEFORE, LOCK_HELD, LOCK_AFTER = 4.0, 10.0, 5.0
LOCK_TIMEOUT_SECONDS = 2.0  # DATABASE_LOCK_TIMEOUT_MS's default


def table_locked(stage: Stage) -> bool:
    say(f"scenario lock: tasks_task locked (ACCESS EXCLUSIVE) by another session for {LOCK_HELD:.0f} s under load")
    writer, reader = stage.users[:2]
    load = Load(stage.server("lock"))
    load.add("create", 0.05, "POST", TASKS, writer, title="fault-lock")
    load.add("me", 0.05, "GET", "/api/v1/users/me", reader)
    load.add("live", 0.1, "GET", "/health/live")

    def lock() -> None:
        with psycopg.connect(stage.url, connect_timeout=5) as locker:
            locker.execute("LOCK TABLE tasks_task IN ACCESS EXCLUSIVE MODE")
            load.mark("locked")
            time.sleep(LOCK_HELD)
            locker.rollback()
            load.mark("released")

    load.run(LOCK_BEFORE, lock, LOCK_AFTER)
    load.print_phases()
    slowest, creates = max(load.answers, key=lambda a: a.latency), load.during("create")
    malformed = sum(a.status == 503 and not a.json_503 for a in creates)
    readers = load.during("me") + load.during("live")
    timeouts = load.server.log_count("Database unavailable (lock timeout)")
    checks = [
        no_server_errors(load.answers),
        Check(
            f"no request waits longer than the lock timeout + 1 s ({LOCK_TIMEOUT_SECONDS + 1:.0f} s)",
            slowest.latency < LOCK_TIMEOUT_SECONDS + 1,
            f"slowest {slowest.kind} {ms(slowest.latency)} ms",
        ),
        Check(
            "task writes during the lock answer JSON 503 with Retry-After",
            any(a.status == 503 for a in creates) and all(a.status == 201 or a.json_503 for a in creates),
            f"{len(creates)} creates: {statuses(creates)}, {malformed} malformed",
        ),
        expect(
            "me and /health/live unaffected (200, under 1 s)",
            readers,
            200,
            ok=lambda a: a.latency < 1,
            max_latency=True,
        ),
        expect("writes work again once the lock is released", load.after("create", settle=1.0), 201),
        write_check(stage, load.answers, "fault-lock"),
        Check("the server logged the lock timeouts", timeouts > 0, f"{timeouts} lines"),
    ]
    return report(checks)


SCENARIOS = {"restart": restart, "redis": redis_down, "worker": worker_killed, "lock": table_locked}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        "--scenarios",
        type=lambda names: [name.strip() for name in names.split(",") if name.strip()],
        default=list(SCENARIOS),
        help="comma-separated",
    )
    parser.add_argument("--port", type=int, default=8301, help="gunicorn's port on 127.0.0.1")
    parser.add_argument("--pg-port", type=int, default=5544, help="the throwaway cluster's port")
    parser.add_argument("--redis-port", type=int, default=6390, help="the port of the Redis the redis scenario stops")
    parser.add_argument("--stop-mode", choices=("fast", "immediate"), default="fast", help="restart's pg_ctl stop mode")
    args = parser.parse_args()
    if not args.scenarios or not set(args.scenarios) <= SCENARIOS.keys():
        parser.error(f"--scenarios takes names among {', '.join(SCENARIOS)}")
    # The scenarios stop the PostgreSQL and the Redis on these ports: never the machine's own.
    if args.pg_port == 5432:
        parser.error("--pg-port 5432 is the machine's cluster: choose another port")
    if args.redis_port == 6379:
        parser.error("--redis-port 6379 is the machine's Redis: choose another port")
    stage = Stage(args)

    def run() -> bool:
        stage.create()
        say(
            f"throwaway PostgreSQL on 127.0.0.1:{args.pg_port} in {stage.directory}; gunicorn on port "
            f"{args.port}, {GUNICORN_WORKERS} sync workers, DEBUG off, rate limits off (THROTTLE_* set empty)"
        )
        return all([SCENARIOS[name](stage) for name in args.scenarios])  # noqa: C419 (every scenario runs)

    return harness.verdict(run, stage.destroy, failure="see the checks above")


if __name__ == "__main__":
    raise SystemExit(main())
