"""`make fault`'s load (threads that each send one kind of request in a loop, recording every answer
on a shared clock) and its scenarios beside the PostgreSQL restart of `bench/fault.py`: Redis
stopped, a job worker killed, a table locked.

Each runs the app under gunicorn with production settings (2 sync workers) on the throwaway
PostgreSQL of `bench/fault.py`, puts a bounded load on it from 127.0.0.1, causes its failure,
prints its figures (statuses by phase, writes acknowledged vs rows found, jobs queued vs
completed) and one line per check, and returns whether every check held.

- `redis`: a Redis of its own (`redis-server` on --redis-port) is stopped for 15 s under a mixed
  load (creates, `me`, logins, a client guessing a password, readiness polls): no 500, every 201
  stored, the guesser still refused, readiness 200 with the cache degraded, Redis used again after.
- `worker`: `manage.py db_worker` is killed with SIGKILL in the middle of a slow job and started
  again at once; every queued job (slow jobs, welcome and reset mails queued through the API)
  completes, the killed one is run again, and no welcome mail goes twice.
- `lock`: another session holds `LOCK TABLE tasks_task IN ACCESS EXCLUSIVE MODE` (what a
  migration's ALTER TABLE takes) for 10 s under load: no request waits longer than the lock
  timeout plus 1 s, task writes answer JSON 503s and work again once the lock is gone, `me` and
  `/health/live` answer at once throughout.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import redis

from bench.harness import PYTHON, ROOT, BenchError, Clock, Gunicorn, port_is_free, say

if TYPE_CHECKING:
    from bench.fault import Cluster

DATABASE = "tasks"
REQUEST_TIMEOUT = 40.0  # longer than gunicorn's own timeout: a hang shows as a slow answer, not a drop
MAX_REQUESTS_PER_LOOP = 5_000
LOCK_TIMEOUT_SECONDS = 2.0  # DATABASE_LOCK_TIMEOUT_MS's default
LOGIN_FAILURE_LIMIT = 5  # THROTTLE_LOGIN_FAILURES for the Redis scenario, per minute
GUNICORN_WORKERS = 2


@dataclass(frozen=True)
class Account:
    """A seeded account and the access token of a session opened for it."""

    email: str
    access_token: str


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values`; NaN when there are none."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1] if ordered else math.nan


def milliseconds(seconds: float) -> str:
    """Seconds as milliseconds for a table cell; '-' for NaN."""
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def status_counts(statuses: Iterable[int | None]) -> str:
    """'200: 12, 503: 3' (None, a request without an answer, as 'socket error')."""
    counts = Counter("socket error" if status is None else str(status) for status in statuses)
    return ", ".join(f"{key}: {count}" for key, count in sorted(counts.items())) or "none"


@dataclass(frozen=True)
class Answer:
    """One request of the load: what it was, when it ran (scenario clock), what came back."""

    kind: str
    started: float
    ended: float
    status: int | None
    code: str | None = None
    retry_after: str | None = None
    body: Any = None
    title: str = ""
    task_id: int | None = None
    error: str | None = None

    @property
    def latency(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Load:
    """Threads that each send one kind of request in a loop until `stop`, recording every answer."""

    base_url: str
    clock: Clock = field(default_factory=Clock)
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def add(
        self, kind: str, send: Callable[[httpx.Client, int], httpx.Response], pause: float, title: str = ""
    ) -> None:
        def loop() -> None:
            with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT) as http:
                for sequence in range(MAX_REQUESTS_PER_LOOP):
                    if self.stop.is_set():
                        return
                    self.answers.append(self._send(kind, http, send, sequence, f"{title}-{sequence}" if title else ""))
                    self.stop.wait(pause)

        self.threads.append(threading.Thread(target=loop, daemon=True))

    def _send(
        self,
        kind: str,
        http: httpx.Client,
        send: Callable[[httpx.Client, int], httpx.Response],
        sequence: int,
        title: str,
    ) -> Answer:
        started = self.clock.now()
        try:
            response = send(http, sequence)
        except httpx.TransportError as exc:
            return Answer(kind, started, self.clock.now(), None, title=title, error=f"{type(exc).__name__}: {exc}")
        body: Any = None
        if "json" in response.headers.get("content-type", ""):  # application/json, application/problem+json
            with contextlib.suppress(ValueError):
                body = response.json()
        fields = body if isinstance(body, dict) else {}
        return Answer(
            kind,
            started,
            self.clock.now(),
            response.status_code,
            code=fields.get("code"),
            retry_after=response.headers.get("retry-after"),
            body=body,
            title=title,
            task_id=fields.get("id") if response.status_code == httpx.codes.CREATED else None,
        )

    def start(self) -> None:
        self.clock = Clock()
        for thread in self.threads:
            thread.start()

    def finish(self) -> list[Answer]:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
        return list(self.answers)


def bearer(user: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.access_token}"}


def create_task(user: Account, prefix: str) -> Callable[[httpx.Client, int], httpx.Response]:
    return lambda http, n: http.post("/api/v1/tasks/", json={"title": f"{prefix}-{n}"}, headers=bearer(user))


def get_me(user: Account) -> Callable[[httpx.Client, int], httpx.Response]:
    return lambda http, n: http.get("/api/v1/users/me", headers=bearer(user))


def log_in(email: str, password: str) -> Callable[[httpx.Client, int], httpx.Response]:
    return lambda http, n: http.post("/api/v1/auth/login", data={"username": email, "password": password})


def get(path: str) -> Callable[[httpx.Client, int], httpx.Response]:
    return lambda http, n: http.get(path)


@dataclass(frozen=True)
class Window:
    """When the failure was in force, on the scenario clock."""

    start: float
    end: float

    def during(self, answers: Sequence[Answer]) -> list[Answer]:
        return [a for a in answers if a.ended >= self.start and a.started <= self.end]

    def before(self, answers: Sequence[Answer]) -> list[Answer]:
        return [a for a in answers if a.ended < self.start]

    def after(self, answers: Sequence[Answer], settle: float = 0.0) -> list[Answer]:
        return [a for a in answers if a.started > self.end + settle]


def of(kind: str, answers: Sequence[Answer]) -> list[Answer]:
    return [a for a in answers if a.kind == kind]


def print_phases(answers: Sequence[Answer], window: Window, kinds: Sequence[str], settle: float = 0.0) -> None:
    """Statuses and latencies of each kind of request, before, during and after the failure."""
    for kind in kinds:
        for label, group in (
            ("before", window.before(of(kind, answers))),
            ("during", window.during(of(kind, answers))),
            ("after", window.after(of(kind, answers), settle)),
        ):
            latencies = [a.latency for a in group]
            slowest = max(latencies, default=float("nan"))
            say(
                f"  {kind:<7}{label:<7}{len(group):>5} requests  {status_counts(a.status for a in group):<28}"
                f" p50 {milliseconds(percentile(latencies, 0.5))} ms, max {milliseconds(slowest)} ms"
            )


def report(checks: Sequence[Check]) -> bool:
    for check in checks:
        say(f"  [{'ok' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
    passed = all(check.passed for check in checks)
    say(f"  {'PASS' if passed else 'FAIL'}")
    return passed


def stored_titles(cluster: Cluster, prefix: str) -> dict[int, str]:
    with psycopg.connect(cluster.url(DATABASE), connect_timeout=5) as conn:
        rows = conn.execute("SELECT id, title FROM tasks_task WHERE title LIKE %s", (prefix + "%",)).fetchall()
    return dict(rows)


def write_check(cluster: Cluster, answers: Sequence[Answer], prefix: str) -> tuple[Check, str]:
    """Every create answered 201 is in the database under its title; and the figures."""
    acknowledged = {a.task_id: a.title for a in answers if a.task_id is not None}
    stored = stored_titles(cluster, prefix)
    lost = sorted(task_id for task_id, title in acknowledged.items() if stored.get(task_id) != title)
    figures = f"{len(acknowledged)} writes acknowledged (201), {len(stored)} rows found, {len(lost)} missing"
    return Check("every 2xx write kept", not lost, figures + (f": {lost[:10]}" if lost else "")), figures


def no_server_errors(answers: Sequence[Answer]) -> Check:
    broken = [a for a in answers if a.status is None or (a.status >= 500 and a.status != 503)]
    count_500 = sum(a.status == 500 for a in answers)
    return Check(
        "0 responses of 500, no socket error",
        not broken,
        f"{len(answers)} answers, {count_500} of 500, {len(broken)} others broken"
        + (f"; e.g. {broken[0].kind} {broken[0].status} {broken[0].error or ''}" if broken else ""),
    )


# --- Redis stopped -------------------------------------------------------------------------------

REDIS_BEFORE, REDIS_OUTAGE, REDIS_AFTER = 5.0, 15.0, 10.0
CACHE_RETRY_SECONDS = 5.0


class RedisServer:
    """A redis-server of our own on 127.0.0.1:`port`, data in `directory`, persistence off."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.pidfile = directory / "redis.pid"

    def start(self) -> None:
        if not port_is_free(self.port):
            raise BenchError(f"port {self.port} is already in use: choose another with --redis-port")
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "yes", "--dir", str(self.directory), "--pidfile", str(self.pidfile),
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=1).ping()
                return
            except redis.RedisError:
                time.sleep(0.1)
        raise BenchError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        """SIGTERM to our own server (by its pidfile), and wait until it is gone."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not port_is_free(self.port):
            time.sleep(0.05)

    def keys(self, pattern: str) -> int:
        return sum(1 for _ in redis.Redis(port=self.port, socket_connect_timeout=1).scan_iter(pattern))


def redis_scenario(cluster: Cluster, env: dict[str, str], args: Any, users: list[Account], password: str) -> bool:
    say(
        f"scenario redis: redis-server on 127.0.0.1:{args.redis_port} stopped for {REDIS_OUTAGE:.0f} s "
        "under a mixed load"
    )
    server_redis = RedisServer(cluster.directory, args.redis_port)
    server_redis.start()
    writer, reader, account, victim = users[:4]
    scenario_env = {
        **env,
        "REDIS_URL": f"redis://127.0.0.1:{args.redis_port}/0",
        "THROTTLE_LOGIN_FAILURES": f"{LOGIN_FAILURE_LIMIT}/min",
        "CACHE_RETRY_SECONDS": str(CACHE_RETRY_SECONDS),
    }
    server = Gunicorn(scenario_env, args.port, cluster.directory / "gunicorn-redis.log")
    load = Load(server.url)
    load.add("create", create_task(writer, "fault-redis"), 0.05, title="fault-redis")
    load.add("me", get_me(reader), 0.05)
    load.add("login", log_in(account.email, password), 0.5)
    load.add("guess", log_in(victim.email, "not-the-password"), 0.25)
    load.add("ready", get("/health/ready"), 0.5)
    try:
        server.start()
        load.start()
        time.sleep(REDIS_BEFORE)
        stop_at, stop_wall = load.clock.now(), time.time()
        server_redis.stop()
        time.sleep(REDIS_OUTAGE)
        server_redis.start()
        back_at, back_wall = load.clock.now(), time.time()
        time.sleep(REDIS_AFTER)
    finally:
        answers = load.finish()
        server.stop()
    window = Window(stop_at, back_at)
    shared_keys_after = server_redis.keys("throttle:*")
    server_redis.stop()
    settle = CACHE_RETRY_SECONDS + 1
    print_phases(answers, window, ("create", "me", "login", "guess", "ready"), settle=0)
    outage_logs = server.log_count('"event": "cache_unavailable"')
    checks = [no_server_errors(answers)]
    kept, figures = write_check(cluster, answers, "fault-redis")
    say(f"  writes: {figures}")
    during = window.during(answers)
    expected = {"create": {201}, "me": {200}, "login": {200}, "guess": {401, 429}, "ready": {200}}
    stray = [a for a in during if a.status not in expected[a.kind]]
    checks.append(
        Check(
            "during the outage: creates 201, me 200, logins 200, guesses 401/429, readiness 200",
            bool(during) and not stray,
            f"{len(during)} answers, {len(stray)} others"
            + (f"; e.g. {stray[0].kind} {stray[0].status}" if stray else ""),
        )
    )
    checks.append(kept)
    guesses = of("guess", during)
    allowed = sum(a.status == 401 for a in guesses)
    # Counters count in fixed windows of the wall clock; a process's own starts from 0 in each.
    windows = int(back_wall // 60) - int(stop_wall // 60) + 1
    bound = LOGIN_FAILURE_LIMIT * GUNICORN_WORKERS * windows
    checks.append(
        Check(
            "limits still refuse a guessing client during the outage",
            any(a.status == 429 for a in guesses) and allowed <= bound,
            f"{len(guesses)} guesses: {status_counts(a.status for a in guesses)} "
            f"(at most {LOGIN_FAILURE_LIMIT}/min per process, {windows} minute window(s): {bound} allowed at most)",
        )
    )
    polls = of("ready", during)
    degraded = [a for a in polls if isinstance(a.body, dict) and a.body.get("checks", {}).get("cache") == "degraded"]
    after_polls = window.after(of("ready", answers), settle)
    healthy_after = [a for a in after_polls if a.status == 200 and a.body.get("checks", {}).get("cache") == "ok"]
    checks.append(
        Check(
            "/health/ready 200 with the cache degraded during the outage, ok after",
            all(a.status == 200 for a in polls) and bool(degraded) and len(healthy_after) == len(after_polls) > 0,
            f"during: {len(polls)} polls, {len(degraded)} degraded; "
            f"after: {len(healthy_after)} of {len(after_polls)} ok",
        )
    )
    checks.append(
        Check(
            "Redis used again after it is back (no restart)",
            shared_keys_after > 0,
            f"{shared_keys_after} throttle counters in the restarted Redis",
        )
    )
    checks.append(
        Check(
            "the outage logged once per process and cache",
            0 < outage_logs <= GUNICORN_WORKERS * 2,
            f"{outage_logs} cache_unavailable lines ({GUNICORN_WORKERS} workers, 2 caches)",
        )
    )
    return report(checks)


# --- a job worker killed -------------------------------------------------------------------------

JOB_MAX_RUN_SECONDS, JOB_STALE_AFTER_SECONDS = 4, 6
SLOW_JOBS, SLOW_JOB_SECONDS = 3, 2.0
NEW_USERS, RESETS = 4, 2
JOBS_TIMEOUT = 60.0
JOB_TABLE = "django_tasks_database_dbtaskresult"


class JobWorker:
    """`manage.py db_worker` in a process of its own, logging to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(PYTHON), "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def jobs(cluster: Cluster) -> list[tuple[str, str, str, list[str]]]:
    with psycopg.connect(cluster.url(DATABASE), connect_timeout=5) as conn:
        rows = conn.execute(f"SELECT id::text, task_path, status, worker_ids FROM {JOB_TABLE}").fetchall()  # noqa: S608
    return [(row[0], row[1], row[2], list(row[3])) for row in rows]


def worker_scenario(cluster: Cluster, env: dict[str, str], args: Any, users: list[Account], password: str) -> bool:
    say("scenario worker: db_worker killed with SIGKILL in the middle of a slow job, then started again")
    scenario_env = {
        **env,
        "TASK_BACKEND": "database",
        "JOB_MAX_RUN_SECONDS": str(JOB_MAX_RUN_SECONDS),
        "JOB_STALE_AFTER_SECONDS": str(JOB_STALE_AFTER_SECONDS),
    }
    admin = users[0]
    with psycopg.connect(cluster.url(DATABASE), autocommit=True, connect_timeout=5) as conn:
        conn.execute("UPDATE accounts_user SET role = 'admin' WHERE email = %s", (admin.email,))
        conn.execute(f"DELETE FROM {JOB_TABLE}")  # noqa: S608
    server = Gunicorn(scenario_env, args.port, cluster.directory / "gunicorn-worker.log")
    log_path = cluster.directory / "db-worker.log"
    first, second = JobWorker(scenario_env, log_path), JobWorker(scenario_env, log_path)
    clock = Clock()
    new_emails = [f"fault-new-{n}@example.com" for n in range(NEW_USERS)]
    try:
        server.start()
        first.start()
        enqueue = (
            "from bench.jobs import slow_job\n"
            f"for n in range({SLOW_JOBS}): slow_job.enqueue(seconds={SLOW_JOB_SECONDS}, label=f'slow-{{n}}')"
        )
        command = [str(PYTHON), "manage.py", "shell", "--no-imports", "-c", enqueue]
        if subprocess.run(command, cwd=ROOT, env=scenario_env, capture_output=True, timeout=120).returncode:
            raise BenchError("could not enqueue the slow jobs")
        statuses = []
        with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as http:
            for email in new_emails:
                body = {"email": email, "password": "fault-new-passphrase-1"}
                statuses.append(http.post("/api/v1/users/", json=body, headers=bearer(admin)).status_code)
            for user in users[1 : 1 + RESETS]:
                statuses.append(http.post("/api/v1/auth/password-reset", json={"email": user.email}).status_code)
        killed = wait_for_running_slow_job(cluster, timeout=20)
        killed_at = clock.now()
        first.kill()
        second.start()
        finished_at = wait_for_all_jobs(cluster, timeout=JOBS_TIMEOUT)
        done_at = clock.now()
    finally:
        first.kill()
        second.stop()
        server.stop()
    rows = jobs(cluster)
    log = log_path.read_text(errors="replace")
    say(f"  enqueues through the API: {status_counts(statuses)}")
    say(f"  killed the worker at {killed_at:.2f} s while job {killed} ran; all jobs finished at {done_at:.2f} s")
    by_status: dict[str, int] = {}
    for _, _, status, _ in rows:
        by_status[status] = by_status.get(status, 0) + 1
    queued = SLOW_JOBS + NEW_USERS + RESETS
    completed = by_status.get("SUCCESSFUL", 0)
    say(f"  jobs: {queued} queued, {len(rows)} in the table, {completed} completed; by status {by_status}")
    say(f"  worker log: {log.count('queued to run again')} job(s) found stale and queued to run again")
    rerun = [row for row in rows if row[0] == killed]
    mails = {email: log.count(f"To: {email}") for email in new_emails}
    checks = [
        Check(
            "the API queued the mails",
            statuses == [201] * NEW_USERS + [202] * RESETS,
            status_counts(statuses),
        ),
        Check(
            "every queued job completed, none lost",
            finished_at is not None and len(rows) == queued and completed == queued,
            f"{queued} queued, {completed} completed",
        ),
        Check(
            "the job running when the worker was killed ran again, by the restarted worker",
            bool(rerun) and rerun[0][2] == "SUCCESSFUL" and len(rerun[0][3]) == 2,
            f"status {rerun[0][2] if rerun else '-'}, claimed {len(rerun[0][3]) if rerun else 0} times",
        ),
        Check(
            "each new user's welcome mail sent once",
            all(count == 1 for count in mails.values()),
            ", ".join(f"{count}" for count in mails.values()) + " mails per user",
        ),
        Check(
            f"done within stale ({JOB_STALE_AFTER_SECONDS} s) + a sweep + the jobs",
            done_at - killed_at
            < JOB_STALE_AFTER_SECONDS + JOB_STALE_AFTER_SECONDS / 2 + SLOW_JOBS * SLOW_JOB_SECONDS + 5,
            f"{done_at - killed_at:.1f} s after the kill",
        ),
    ]
    return report(checks)


def wait_for_running_slow_job(cluster: Cluster, timeout: float) -> str:
    """The id of a slow job that started running within the last second: a kill now lands mid-job."""
    deadline = time.monotonic() + timeout
    query = (
        f"SELECT id::text FROM {JOB_TABLE} WHERE status = 'RUNNING' AND task_path = 'bench.jobs.slow_job' "  # noqa: S608
        "AND started_at > now() - interval '1 second'"
    )
    while time.monotonic() < deadline:
        with psycopg.connect(cluster.url(DATABASE), connect_timeout=5) as conn:
            row = conn.execute(query).fetchone()
        if row:
            return str(row[0])
        time.sleep(0.05)
    raise BenchError("no slow job started running")


def wait_for_all_jobs(cluster: Cluster, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(row[2] in ("SUCCESSFUL", "FAILED") for row in jobs(cluster)):
            return time.monotonic()
        time.sleep(0.2)
    return None


# --- a table locked ------------------------------------------------------------------------------

LOCK_BEFORE, LOCK_HELD, LOCK_AFTER = 4.0, 10.0, 5.0


def lock_scenario(cluster: Cluster, env: dict[str, str], args: Any, users: list[Account], password: str) -> bool:
    say(f"scenario lock: tasks_task locked (ACCESS EXCLUSIVE) by another session for {LOCK_HELD:.0f} s under load")
    writer, reader = users[:2]
    server = Gunicorn(env, args.port, cluster.directory / "gunicorn-lock.log")
    load = Load(server.url)
    load.add("create", create_task(writer, "fault-lock"), 0.05, title="fault-lock")
    load.add("me", get_me(reader), 0.05)
    load.add("live", get("/health/live"), 0.1)
    try:
        server.start()
        load.start()
        time.sleep(LOCK_BEFORE)
        with psycopg.connect(cluster.url(DATABASE), connect_timeout=5) as locker:
            locker.execute("LOCK TABLE tasks_task IN ACCESS EXCLUSIVE MODE")
            locked_at = load.clock.now()
            time.sleep(LOCK_HELD)
            locker.rollback()
            released_at = load.clock.now()
        time.sleep(LOCK_AFTER)
    finally:
        answers = load.finish()
        server.stop()
    window = Window(locked_at, released_at)
    print_phases(answers, window, ("create", "me", "live"))
    kept, figures = write_check(cluster, answers, "fault-lock")
    say(f"  writes: {figures}")
    slowest = max(answers, key=lambda a: a.latency)
    creates = of("create", window.during(answers))
    refused = [a for a in creates if a.status == 503]
    malformed = [a for a in refused if a.code != "service_unavailable" or not a.retry_after]
    me_during = of("me", window.during(answers)) + of("live", window.during(answers))
    after = of("create", window.after(answers, settle=1.0))
    checks = [
        no_server_errors(answers),
        Check(
            f"no request waits longer than the lock timeout + 1 s ({LOCK_TIMEOUT_SECONDS + 1:.0f} s)",
            slowest.latency < LOCK_TIMEOUT_SECONDS + 1,
            f"slowest {slowest.kind} {milliseconds(slowest.latency)} ms",
        ),
        Check(
            "task writes during the lock answer JSON 503 with Retry-After",
            bool(refused) and not malformed and all(a.status in (201, 503) for a in creates),
            f"{len(creates)} creates: {status_counts(a.status for a in creates)}, {len(malformed)} malformed",
        ),
        Check(
            "me and /health/live unaffected (200, under 1 s)",
            bool(me_during) and all(a.status == 200 and a.latency < 1 for a in me_during),
            f"{len(me_during)} requests, max {milliseconds(max((a.latency for a in me_during), default=0))} ms",
        ),
        Check(
            "writes work again once the lock is released",
            bool(after) and all(a.status == 201 for a in after),
            f"{len(after)} creates after: {status_counts(a.status for a in after)}",
        ),
        kept,
        Check(
            "the server logged the lock timeouts",
            server.log_count("Database unavailable (lock timeout)") > 0,
            f"{server.log_count('Database unavailable (lock timeout)')} lines",
        ),
    ]
    return report(checks)


SCENARIOS = {"redis": redis_scenario, "worker": worker_scenario, "lock": lock_scenario}
