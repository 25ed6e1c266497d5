"""Shared pieces of `bench/load.py` and `bench/fault.py`: the app under gunicorn and its data.

Both scripts run the app the way production does (DEBUG off, random secrets, gunicorn with
`config/gunicorn.py`), with every rate limit turned off (the six `THROTTLE_*` variables set to an
empty value), and talk to it over 127.0.0.1 only. `seed_database` runs inside the app's own Django
(through `manage.py shell`); everything else runs in the benchmark's process.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx

from bench.common import THROTTLE_VARIABLES

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
GUNICORN = PYTHON.parent / "gunicorn"
SEED_MARKER = "BENCH-SEED "
LOG_TAIL_LINES = 40


class BenchError(Exception):
    """The benchmark itself could not run (as opposed to the app failing a check)."""


def say(*parts: object) -> None:
    """Print one line to stdout at once (the scripts' only output channel)."""
    sys.stdout.write(" ".join(str(part) for part in parts) + "\n")
    sys.stdout.flush()


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that `finally` blocks clean up as they do on Ctrl-C."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def random_secret() -> str:
    """A random secret well over the 50 characters the app requires with DEBUG off."""
    return secrets.token_urlsafe(64)


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production-like app: DEBUG off, random secrets, no rate limits.

    Starts from a minimal environment (not the caller's), so a stray variable in the shell
    cannot change what is measured; `extra` adds or overrides variables.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 (only a fallback for HOME)
        "LANG": "C.UTF-8",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": random_secret(),
        "JWT_SECRET_KEY": random_secret(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "EMAIL_URL": "consolemail://",
        "TASK_BACKEND": "immediate",
        "WEB_CONCURRENCY": "2",
        "DATABASE_URL": database_url,
        # Set but empty: that limit is off (see THROTTLE_RATES in config/settings.py).
        **dict.fromkeys(THROTTLE_VARIABLES, ""),
    }
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 300) -> str:
    """Run `manage.py` with the app's interpreter; its stdout, or BenchError with its output."""
    try:
        result = subprocess.run(
            [str(PYTHON), "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"manage.py {args[0]} did not finish within {timeout:.0f} s") from exc
    if result.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


@dataclass(frozen=True)
class SeededUser:
    """An account made by `seed_database`, with a session (token pair) opened for it."""

    email: str
    access_token: str
    refresh_token: str


def seed(env: dict[str, str], *, users: int, tasks_per_user: int, password: str, prefix: str) -> list[SeededUser]:
    """Create `users` accounts with `tasks_per_user` tasks each, through the app's own models.

    Runs `seed_database` in `manage.py shell` with the app's environment, so the token pairs it
    issues are signed with the key the server will check them with.
    """
    call = (
        "from bench.load_common import seed_database; "
        f"seed_database(users={users}, tasks_per_user={tasks_per_user}, password={password!r}, prefix={prefix!r})"
    )
    output = manage("shell", "--no-imports", "-c", call, env=env)
    for line in output.splitlines():
        if line.startswith(SEED_MARKER):
            return [SeededUser(**item) for item in json.loads(line.removeprefix(SEED_MARKER))]
    raise BenchError(f"the seed printed no accounts:\n{output}")


def seed_database(*, users: int, tasks_per_user: int, password: str, prefix: str) -> None:
    """Inside the app: bulk-create accounts and tasks, open a session for each account, print them.

    Every account shares one password hash (Argon2 is slow on purpose; hashing it once keeps the
    seed quick). Tasks vary in status, priority, due date and title words so that every filter
    of the list has something to find.
    """
    import datetime

    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from accounts.tokens import issue_token_pair
    from tasks.models import Priority, Task, TaskStatus

    hashed = make_password(password)
    words = ("alpha", "bravo", "charlie", "delta", "echo")
    statuses = list(TaskStatus)
    priorities = list(Priority)
    today = timezone.now().date()
    with transaction.atomic():
        accounts = User.objects.bulk_create(
            User(email=f"{prefix}{index}@example.com", password=hashed, full_name=f"Bench user {index}")
            for index in range(users)
        )
        Task.objects.bulk_create(
            (
                Task(
                    owner=account,
                    title=f"{words[number % len(words)]} task {number}",
                    description=f"Seeded task {number} of {account.email}",
                    status=statuses[number % len(statuses)],
                    priority=priorities[number % len(priorities)],
                    due_date=today + datetime.timedelta(days=number % 60 - 30) if number % 4 else None,
                )
                for account in accounts
                for number in range(tasks_per_user)
            ),
            batch_size=2000,
        )
    sessions = []
    for account in accounts:
        pair = issue_token_pair(account)
        sessions.append(
            {"email": account.email, "access_token": pair.access_token, "refresh_token": pair.refresh_token}
        )
    sys.stdout.write(SEED_MARKER + json.dumps(sessions) + "\n")


def port_is_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:`port` (so starting a server there touches no one else's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Gunicorn:
    """The app under gunicorn with `config/gunicorn.py`, bound to 127.0.0.1:`port`, logging to a file."""

    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 60) -> None:
        """Start the master in its own process group and wait until `/health/live` answers 200."""
        if not port_is_free(self.port):
            raise BenchError(f"port {self.port} is already in use on 127.0.0.1: choose another with --port")
        self._log = self.log_path.open("ab")
        command = [str(GUNICORN), "-c", "config/gunicorn.py", "config.wsgi", "-b", f"127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_live(ready_timeout)

    def _wait_live(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/health/live", timeout=2).status_code == httpx.codes.OK:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise BenchError(f"gunicorn did not answer /health/live within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 40) -> None:
        """SIGTERM to the master (graceful), then SIGKILL to its process group if it lingers."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self, expected: tuple[str, ...] = ()) -> list[str]:
        """Lines of the server's log that report an error, a traceback or a killed worker.

        Lines containing any of `expected` are left out.
        """
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        markers = ('"level": "ERROR"', '"level": "CRITICAL"', "Traceback", "WORKER TIMEOUT", "[ERROR]", "[CRITICAL]")
        return [
            line
            for line in text.splitlines()
            if any(marker in line for marker in markers) and not any(part in line for part in expected)
        ]

    def log_count(self, part: str) -> int:
        """How many lines of the server's log contain `part`."""
        try:
            return sum(part in line for line in self.log_path.read_text(errors="replace").splitlines())
        except OSError:
            return 0


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (sorted here); NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def milliseconds(seconds: float) -> str:
    """Seconds as milliseconds for a table cell; '-' for NaN."""
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def status_counts(statuses: Iterable[int | None]) -> str:
    """'200: 12, 503: 3' (None, a request without an answer, as 'socket error')."""
    counts: dict[str, int] = {}
    for status in statuses:
        key = "socket error" if status is None else str(status)
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{key}: {count}" for key, count in sorted(counts.items())) or "none"


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when it is not JSON."""
    if not response.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        return response.json()
    except ValueError:
        return None
