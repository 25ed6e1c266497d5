"""Load test: many concurrent clients on a mixed workload against the app under gunicorn.

    .venv/bin/python bench/load.py [--clients 64] [--duration 60] [--port 8201]

Creates a fresh database on the machine's PostgreSQL (127.0.0.1:5432), migrates it, seeds one
account per client with tasks, and starts the app under gunicorn with production settings
(DEBUG off, random secrets, 2 workers) and every rate limit off (the six THROTTLE_* variables set
to an empty value): the point is to measure the app, not to be refused by it. Then each client
thread keeps its own session for the whole run (rotating its own refresh token, never reusing
one) and sends a weighted mix of logins, refreshes, `users/me`, lists with and without filters,
creates, updates, deletes and health checks until the duration is over.

Prints the request count, throughput, statuses, socket errors and p50/p99 latency per kind of
request (measured by the client, queueing included). Exits 1 on any 5xx or socket error, 2 when
the benchmark itself cannot run. The server and the database are removed whatever happens.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

# `bench/` is a namespace package (no __init__.py), imported from the repository root.
sys.path[0] = str(Path(__file__).resolve().parent.parent)
from bench.load_common import (  # noqa: E402
    BenchError,
    Gunicorn,
    SeededUser,
    exit_on_sigterm,
    manage,
    milliseconds,
    percentile,
    production_env,
    say,
    seed,
    status_counts,
)

SERVER = "postgres://postgres@127.0.0.1:5432"
PASSWORD = "bench-load-password-1"  # noqa: S105 (the seeded accounts' password, not a secret)
TASKS_PER_USER = 200
REQUEST_TIMEOUT = 30.0
MAX_REQUESTS_PER_CLIENT = 1_000_000
# Relative weights of each kind of request in the mix. Logins are rare, as in real traffic: each
# costs an Argon2 hash (about 0.1-0.5 s of a worker's CPU), so a few per second fill a worker.
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
EXPECTED_STATUS = {"create": 201, "delete": 204}
FILTERS = (
    {"status": "done"},
    {"status": "in_progress", "ordering": "-priority"},
    {"priority": "high"},
    {"search": "alpha"},
    {"due_before": "2030-01-01", "ordering": "due_date"},
    {"due_after": "2000-01-01", "status": "todo"},
    {"page": "2", "page_size": "50"},
    {"ordering": "title", "page_size": "100"},
)
STATUSES = ("todo", "in_progress", "done")
PRIORITIES = ("low", "medium", "high")


@dataclass(frozen=True)
class Sample:
    """One request: its kind, its status (None when no answer came) and its latency in seconds."""

    kind: str
    status: int | None
    latency: float


@dataclass
class LoadClient:
    """One simulated user: its own account, session and tasks, on its own connection."""

    user: SeededUser
    base_url: str
    seed: int
    access_token: str = ""
    refresh_token: str = ""
    task_ids: list[int] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    socket_errors: list[str] = field(default_factory=list)
    crash: str | None = None

    def __post_init__(self) -> None:
        self.access_token = self.user.access_token
        self.refresh_token = self.user.refresh_token
        self.rng = random.Random(self.seed)
        self.http = httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT)
        self.actions: dict[str, Callable[[], None]] = {
            "login": self.login,
            "refresh": self.refresh,
            "me": self.me,
            "list": self.list_tasks,
            "list_filtered": self.list_filtered,
            "create": self.create,
            "update": self.update,
            "delete": self.delete,
            "health_live": self.health_live,
            "health_ready": self.health_ready,
        }

    def send(self, kind: str, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        """Send one request and record it; None (and a socket error) when no answer came."""
        started = time.perf_counter()
        try:
            response = self.http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            self.samples.append(Sample(kind, None, time.perf_counter() - started))
            self.socket_errors.append(f"{kind} {method} {path}: {type(exc).__name__}: {exc}")
            return None
        self.samples.append(Sample(kind, response.status_code, time.perf_counter() - started))
        return response

    def api(self, kind: str, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        """An authenticated API request with the client's current access token."""
        headers = {"Authorization": f"Bearer {self.access_token}"}
        return self.send(kind, method, f"/api/v1/{path}", headers=headers, **kwargs)

    def take_pair(self, response: httpx.Response | None) -> None:
        """Keep the new token pair of a successful login or refresh."""
        if response is not None and response.status_code == httpx.codes.OK:
            body = response.json()
            self.access_token, self.refresh_token = body["access_token"], body["refresh_token"]

    def login(self) -> None:
        """A new session (the old one is simply abandoned, as a client that logs in again does)."""
        form = {"username": self.user.email, "password": PASSWORD}
        self.take_pair(self.send("login", "POST", "/api/v1/auth/login", data=form))

    def refresh(self) -> None:
        """Rotate the current refresh token; it is never presented again."""
        body = {"refresh_token": self.refresh_token}
        self.take_pair(self.send("refresh", "POST", "/api/v1/auth/refresh", json=body))

    def me(self) -> None:
        self.api("me", "GET", "users/me")

    def list_tasks(self) -> None:
        """The first page, newest first; remembers the ids for updates."""
        response = self.api("list", "GET", "tasks/")
        if response is not None and response.status_code == httpx.codes.OK and not self.task_ids:
            self.task_ids = [task["id"] for task in response.json()["results"]]

    def list_filtered(self) -> None:
        self.api("list_filtered", "GET", "tasks/", params=self.rng.choice(FILTERS))

    def create(self) -> None:
        """A new task; its id is kept for updates and for deleting later."""
        body = {
            "title": f"load task {self.rng.randrange(1_000_000)}",
            "description": "created by bench/load.py",
            "priority": self.rng.choice(PRIORITIES),
            "due_date": f"2030-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}",
        }
        response = self.api("create", "POST", "tasks/", json=body)
        if response is not None and response.status_code == httpx.codes.CREATED:
            task_id = response.json()["id"]
            self.created_ids.append(task_id)
            self.task_ids.append(task_id)

    def update(self) -> None:
        """Change one of the client's own tasks (seeded or created)."""
        if not self.task_ids:
            self.list_tasks()
            return
        body = {"status": self.rng.choice(STATUSES), "priority": self.rng.choice(PRIORITIES)}
        self.api("update", "PATCH", f"tasks/{self.rng.choice(self.task_ids)}/", json=body)

    def delete(self) -> None:
        """Delete a task this client created (seeded ones stay, so lists keep their size)."""
        if not self.created_ids:
            self.create()
            return
        task_id = self.created_ids.pop(self.rng.randrange(len(self.created_ids)))
        if task_id in self.task_ids:
            self.task_ids.remove(task_id)
        self.api("delete", "DELETE", f"tasks/{task_id}/")

    def health_live(self) -> None:
        self.send("health_live", "GET", "/health/live")

    def health_ready(self) -> None:
        self.send("health_ready", "GET", "/health/ready")

    def run(self, start: threading.Barrier, duration: float) -> None:
        """Wait for every client, then send the mix until `duration` seconds have passed."""
        kinds, weights = list(MIX), list(MIX.values())
        try:
            start.wait(timeout=120)
        except threading.BrokenBarrierError:
            return
        deadline = time.monotonic() + duration
        try:
            for _ in range(MAX_REQUESTS_PER_CLIENT):
                if time.monotonic() >= deadline:
                    break
                self.actions[self.rng.choices(kinds, weights)[0]]()
        except Exception as exc:  # an answer the client could not read: report it, do not hide it
            self.crash = f"{type(exc).__name__}: {exc}"
        finally:
            self.http.close()


def cpu_seconds(who: int) -> float:
    """User and system CPU time of this process (RUSAGE_SELF) or of its ended children (RUSAGE_CHILDREN)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def create_database(name: str) -> None:
    """A new, empty database on the machine's server."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    """Drop the benchmark's database, closing any connection left to it."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_clients(clients: list[LoadClient], duration: float) -> float:
    """Run every client in its own thread; the measured wall time in seconds."""
    start = threading.Barrier(len(clients) + 1)
    threads = [
        threading.Thread(target=client.run, args=(start, duration), name=f"client-{index}", daemon=True)
        for index, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    start.wait(timeout=120)
    began = time.monotonic()
    for thread in threads:
        thread.join(timeout=duration + REQUEST_TIMEOUT + 30)
    if any(thread.is_alive() for thread in threads):
        raise BenchError("some clients did not stop in time")
    return time.monotonic() - began


def is_expected(sample: Sample) -> bool:
    return sample.status == EXPECTED_STATUS.get(sample.kind, 200)


def report(clients: list[LoadClient], elapsed: float, server: Gunicorn) -> bool:
    """Print the results; True when there was no 5xx, no socket error and no client crash."""
    samples = [sample for client in clients for sample in client.samples]
    socket_errors = [error for client in clients for error in client.socket_errors]
    crashes = [client.crash for client in clients if client.crash is not None]
    server_errors = [sample for sample in samples if sample.status is not None and sample.status >= 500]
    unexpected = [sample for sample in samples if sample.status is not None and not is_expected(sample)]
    say(f"requests: {len(samples)} in {elapsed:.1f} s = {len(samples) / elapsed:.1f} req/s")
    say(f"statuses: {status_counts(sample.status for sample in samples)}")
    say(f"5xx: {len(server_errors)}    socket errors: {len(socket_errors)}    other unexpected: {len(unexpected)}")
    say(f"{'kind':<14}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}  statuses")
    for kind in MIX:
        of_kind = [sample for sample in samples if sample.kind == kind]
        latencies = [sample.latency for sample in of_kind]
        say(
            f"{kind:<14}{len(of_kind):>8}{milliseconds(percentile(latencies, 0.5)):>10}"
            f"{milliseconds(percentile(latencies, 0.99)):>10}{milliseconds(max(latencies, default=float('nan'))):>10}"
            f"  {status_counts(sample.status for sample in of_kind)}"
        )
    latencies = [sample.latency for sample in samples]
    say(
        f"{'all':<14}{len(samples):>8}{milliseconds(percentile(latencies, 0.5)):>10}"
        f"{milliseconds(percentile(latencies, 0.99)):>10}{milliseconds(max(latencies, default=float('nan'))):>10}"
    )
    for line in socket_errors[:10]:
        say(f"  socket error: {line}")
    for line in crashes[:10]:
        say(f"  client stopped early: {line}")
    problems = server.log_problems()
    say(f"server log: {len(problems)} error lines")
    for line in problems[:10]:
        say(f"  {line[:300]}")
    return not server_errors and not socket_errors and not crashes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (threads), default 64")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load, default 60")
    parser.add_argument("--port", type=int, default=8201, help="port for gunicorn on 127.0.0.1, default 8201")
    args = parser.parse_args()
    if not 1 <= args.clients <= 512 or not 1 <= args.duration <= 3600:
        parser.error("--clients must be 1-512 and --duration 1-3600 seconds")
    return args


def main() -> int:
    """Set up, load, report, and always tear down; the exit status."""
    args = parse_args()
    exit_on_sigterm()
    database = f"bench_load_{os.getpid()}_{int(time.time())}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = production_env(f"{SERVER}/{database}")
    server = Gunicorn(env, args.port, workdir / "gunicorn.log")
    created = False
    try:
        say(f"load average before: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        create_database(database)
        created = True
        say(f"database {database}: migrating and seeding {args.clients} users x {TASKS_PER_USER} tasks")
        manage("migrate", "--noinput", env=env)
        users = seed(env, users=args.clients, tasks_per_user=TASKS_PER_USER, password=PASSWORD, prefix="load")
        server_cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
        server.start()
        say(
            f"gunicorn on {server.base_url}: 2 sync workers, DEBUG off, rate limits off (THROTTLE_* set empty); "
            f"{args.clients} clients for {args.duration:.0f} s"
        )
        total = sum(MIX.values())
        say("mix: " + ", ".join(f"{kind} {weight / total:.1%}" for kind, weight in MIX.items()))
        clients = [LoadClient(user, server.base_url, seed=index) for index, user in enumerate(users)]
        client_cpu = cpu_seconds(resource.RUSAGE_SELF)
        elapsed = run_clients(clients, args.duration)
        client_cpu = cpu_seconds(resource.RUSAGE_SELF) - client_cpu
        server.stop()
        server_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - server_cpu
        ok = report(clients, elapsed, server)
        say(
            f"CPU seconds over {elapsed:.1f} s on {os.cpu_count()} cores: clients {client_cpu:.1f}, "
            f"gunicorn {server_cpu:.1f} (master and every worker, startup included; PostgreSQL not counted)"
        )
        say(f"load average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        say("PASS" if ok else "FAIL: 5xx answers, socket errors or stopped clients (see above)")
        return 0 if ok else 1
    except BenchError as exc:
        say(f"ERROR: {exc}")
        return 2
    finally:
        server.stop()
        if created:
            drop_database(database)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
