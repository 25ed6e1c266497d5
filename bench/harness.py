"""The one harness of every bench script: databases, the app's production environment, seed data,
and gunicorn started, waited for and stopped.

`bench/` has no `__init__.py`: scripts put the repository root first on `sys.path` (`import
bench.harness`), since a plain `import common` would find the project's `common` app.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
import redis
from psycopg import sql

from config.variables import rate_limit_variables, settings_variables

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
# The PostgreSQL server that holds the benchmarks' databases (trust authentication), and the Redis.
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SEARCH_WORD = "invoice"  # one seeded title in nine holds it


class BenchError(Exception):
    """The benchmark itself could not run (as opposed to the app failing a check)."""


def say(*parts: object) -> None:
    """Print a line at once: progress must show while a script runs."""
    print(*parts, flush=True)


@contextlib.contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end a script like Ctrl-C does, through the `finally` blocks that clean up."""

    def exit_(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, exit_) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# What keeps a script from running its checks: its own BenchError, and a program, server or file that
# is missing, down or too slow.
CANNOT_RUN = (BenchError, OSError, psycopg.Error, redis.RedisError, subprocess.SubprocessError)


def verdict(run: Callable[[], bool], clean_up: Callable[[], None], *, failure: str) -> int:
    """A checking script's exit status: 0 when `run` finds every check held (PASS), 1 when one did
    not (FAIL: `failure`), 2 when the script could not run (ERROR). `clean_up` runs whatever happens,
    Ctrl-C, SIGTERM and SIGHUP included; if it fails, the verdict stands and the failure is said."""
    with cleanup_on_signals():
        try:
            passed = run()
            say("PASS" if passed else f"FAIL: {failure}")
            status = 0 if passed else 1
        except CANNOT_RUN as exc:
            say(f"ERROR: {exc}" if isinstance(exc, BenchError) else f"ERROR: {type(exc).__name__}: {exc}")
            status = 2
        finally:
            try:
                clean_up()
            except CANNOT_RUN as exc:
                say(f"clean-up incomplete: {type(exc).__name__}: {exc}")
    return status


# Reporting ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One goal of a checking script: held or not, and the figures that say so."""

    name: str
    passed: bool
    detail: str = ""


def print_checks(checks: Iterable[Check]) -> bool:
    """One line per check, `[ok]` or `[FAIL]`; whether every one held."""
    checks = list(checks)
    for check in checks:
        say(f"  [{'ok' if check.passed else 'FAIL'}] {check.name}" + (f": {check.detail}" if check.detail else ""))
    return all(check.passed for check in checks)


def status_counts(statuses: Iterable[int | str | None] | Mapping[str, int]) -> str:
    """'200: 12, 503: 3, socket error: 1' from statuses (None: no answer) or from counts by status."""
    counts = statuses if isinstance(statuses, Mapping) else Counter(str(s) for s in statuses)
    named = Counter({"socket error" if key == "None" else key: n for key, n in counts.items()})
    return ", ".join(f"{key}: {n}" for key, n in sorted(named.items()) if n) or "none"


def percentile(values: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile; NaN when there are no values."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1] if ordered else math.nan


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a report; '-' for NaN."""
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def wait_for[T](probe: Callable[[], T], timeout: float, interval: float = 0.1) -> T | None:
    """`probe()` once it is truthy, asked every `interval` s for up to `timeout` s; None if it never is."""
    deadline = time.monotonic() + timeout
    while True:
        if result := probe():
            return result
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def wait_until(ready: Callable[[], object], timeout: float, what: str) -> None:
    """Until `ready()`; BenchError(`what` within `timeout` s) when it never is."""
    if not wait_for(ready, timeout):
        raise BenchError(f"{what} within {timeout:.0f} s")


class Clock:
    """Seconds since `origin` (now, by default) on the wall clock, which another process's times
    (`time.time()`) can be read on too; shared by a script's threads."""

    def __init__(self, origin: float | None = None) -> None:
        self.origin = time.time() if origin is None else origin

    def now(self) -> float:
        return time.time() - self.origin


# Databases ----------------------------------------------------------------------------------------


def database_url(name: str, server: str = PG_SERVER) -> str:
    return f"{server.rstrip('/')}/{name}"


def create_database(name: str, server: str = PG_SERVER) -> str:
    """A new, empty database `name` (a leftover one is dropped first); its URL."""
    drop_database(name, server)
    with psycopg.connect(database_url("postgres", server), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name, server)


def drop_database(name: str, server: str = PG_SERVER) -> None:
    """Drop database `name` if it exists, disconnecting whoever is still connected."""
    with psycopg.connect(database_url("postgres", server), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# The app's environment ----------------------------------------------------------------------------


# The rate limits' variables: set empty, a limit is off.
THROTTLE_VARIABLES = rate_limit_variables()


def production_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The app in production mode (DEBUG off, random secrets, 2 workers), every rate limit off.

    Starts from a bare environment, and sets every variable the settings read to empty (its
    default, even over a `.env` file), so that neither the shell nor `.env` changes what is measured.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}  # noqa: S108
    env |= dict.fromkeys(settings_variables(), "")  # each at its default; a THROTTLE_* set empty: limit off
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "EMAIL_URL": "consolemail://",
        "TASK_BACKEND": "immediate",
        "WEB_CONCURRENCY": "2",
    }
    return env | overrides


def setup_django(env: Mapping[str, str]) -> None:
    """Make this process the app, with `env` (the servers' settings): migrate, seed, issue tokens."""
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    logging.disable(logging.INFO)  # request and security-event lines would flood the output
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic here
    call_command("migrate", interactive=False, verbosity=0)


# Seed data (in a process set up by `setup_django`) ------------------------------------------------


def task_rows(owner: Any, count: int) -> list[Any]:
    """`count` varied tasks: every status, priority and due-date case; one title in nine has SEARCH_WORD."""
    from tasks.models import Task

    verbs = ("Review", "Write", "Fix", "Plan", "Call about", "Update", "Test", "Ship")
    nouns = ("report", SEARCH_WORD, "roadmap", "backlog", "budget", "release", "contract", "design", "survey")
    today = dt.datetime.now(dt.UTC).date()
    tasks = []
    for i in range(count):
        noun = nouns[(i * 7) % len(nouns)]
        tasks.append(
            Task(
                owner=owner,
                title=f"{verbs[i % len(verbs)]} the {noun} #{i}",
                description=f"Notes on the {noun}: agenda, owners and next steps for item {i}." if i % 2 else "",
                status=("todo", "in_progress", "done")[i % 3],
                priority=1 + (i * 5) % 3,
                due_date=None if i % 4 == 0 else today + dt.timedelta(days=(i % 90) - 30),
            )
        )
    return tasks


def seed(*, prefix: str, users: int, tasks_per_user: int, password: str) -> list[Any]:
    """`users` verified accounts `<prefix><n>@bench.example` with their tasks; the users, in order.

    They share one Argon2 hash of `password` (hashing it once keeps the seed quick; a login still
    verifies a real one). Creation times are spread over weeks, done tasks stamped, then VACUUM ANALYZE.
    """
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from accounts.models import User
    from tasks.models import Task

    hashed, now = make_password(password), dt.datetime.now(dt.UTC)
    accounts = User.objects.bulk_create(
        User(email=f"{prefix}{n}@bench.example", password=hashed, full_name=f"User {n}", email_verified_at=now)
        for n in range(users)
    )
    Task.objects.bulk_create((task for user in accounts for task in task_rows(user, tasks_per_user)), batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tasks_task SET created_at = now() - (m.top - id) * interval '47 minutes', "
            "updated_at = now() - (m.top - id) * interval '47 minutes' + interval '1 hour', "
            "completed_at = CASE WHEN status = 'done' THEN now() - (m.top - id) * interval '40 minutes' END "
            "FROM (SELECT max(id) AS top FROM tasks_task) m"
        )
        cursor.execute("VACUUM ANALYZE")
    return accounts


def token_pair(user: Any) -> tuple[str, str]:
    """A new session of `user`: its access and refresh tokens, signed as the servers sign them."""
    from accounts.tokens import issue_token_pair

    pair = issue_token_pair(user)
    return pair.access_token, pair.refresh_token


# Ports and gunicorn -------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now (binding as gunicorn does)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, avoid: tuple[int, ...] = ()) -> int:
    """`preferred` if it is free, else the next free port above it."""
    for port in range(preferred, preferred + 50):
        if port not in avoid and port_is_free(port):
            return port
    raise BenchError(f"no free port in {preferred}-{preferred + 49}")


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET to `url`, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (our own http:// URL)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


def children_of(pid: int) -> list[int]:
    """The pids of the live child processes of `pid` (gunicorn's workers, of its master)."""
    children = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
            if stat and int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                children.append(int(entry.name))
    return sorted(children)


# A log line that reports an error, a traceback or a killed worker.
_PROBLEMS = ('"level": "ERROR"', '"level": "CRITICAL"', "Traceback", "WORKER TIMEOUT", "[ERROR]", "[CRITICAL]")


@dataclass
class Gunicorn:
    """A gunicorn with the project's config/gunicorn.py on 127.0.0.1:`port`, its output in `log_path`.

    `app` is the WSGI target (the floor is `bench.floor:application`); WEB_CONCURRENCY in `env` sets
    the workers. The master runs in a process group of its own, so that `kill` takes its workers too.
    """

    env: Mapping[str, str]
    port: int
    log_path: Path
    app: str = "config.wsgi"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start, and wait until `/health/ready` answers 200 and every worker is up."""
        self._log = self.log_path.open("ab")
        command = [str(PYTHON.parent / "gunicorn"), "-c", "config/gunicorn.py", "-b", f"127.0.0.1:{self.port}"]
        command.append(self.app)
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=dict(self.env), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        workers = int(self.env.get("WEB_CONCURRENCY") or 1)

        def ready() -> bool:
            if self.process is None or self.process.poll() is not None:
                raise BenchError(f"gunicorn {self.app} exited:\n{self.log_tail()}")
            return http_status(self.url + "/health/ready") == 200 and len(self.worker_pids()) >= workers

        if not wait_for(ready, timeout, interval=0.2):
            raise BenchError(f"gunicorn {self.app} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The current workers (they change as workers are recycled)."""
        return children_of(self.process.pid) if self.process is not None else []

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM to the master (it lets the workers finish their requests), SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.kill()

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once: a crash."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_lines(self) -> list[str]:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace").splitlines()
        return []

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_lines()[-lines:])

    def log_problems(self, expected: tuple[str, ...] = ()) -> list[str]:
        """Lines of the log that report an error, but those containing one of `expected`."""
        return [
            line
            for line in self.log_lines()
            if any(mark in line for mark in _PROBLEMS) and not any(part in line for part in expected)
        ]

    def log_count(self, part: str) -> int:
        return sum(part in line for line in self.log_lines())
