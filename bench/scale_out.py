"""`make scale-out`: three app instances behind HAProxy, sharing a PgBouncer and a Redis, under `make load`'s
Locust users while one instance is killed and one restarted gracefully (bench/README.md, docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # import `bench.harness` from the root: in bench/, `common` is not the project's app

from bench import harness, load  # noqa: E402
from bench.harness import BenchError, Check, Gunicorn, say  # noqa: E402

POOL_SIZE = 4  # PostgreSQL connections PgBouncer opens for the six gunicorn workers
KILL_AT, RESTART_AT, GRACEFUL_AT = 20.0, 35.0, 45.0
LOGIN_LIMIT = 8  # failed logins per account and address, per hour: no fixed window ends during the probe
HAPROXY_CONFIG = ROOT / "bench" / "haproxy.cfg"
CLOCK = harness.Clock()  # the load's: from the moment every simulated user runs (Faults.run sets it)
HAPROXY_LOG = re.compile(r"^REQ (?P<id>\S+) (?P<server>\S+) \S+ (?P<term>\S+) (?P<retries>\S+) ")  # haproxy.cfg's


def installed(program: str) -> str | None:
    """Its path; Debian puts haproxy and pgbouncer in /usr/sbin, which is not on every PATH."""
    return shutil.which(program) or shutil.which(program, path="/usr/sbin")


class HAProxy:
    """bench/haproxy.cfg in the foreground: one log line per request, its runtime API on a socket."""

    def __init__(self, workdir: Path, port: int, instance_ports: list[int]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.socket, self.log_path = workdir / "haproxy.sock", workdir / "haproxy.log"
        self.env = {**os.environ, "BENCH_HAPROXY_PORT": str(port), "BENCH_HAPROXY_SOCKET": str(self.socket)}
        self.env |= {f"BENCH_APP{n}": str(port) for n, port in enumerate(instance_ports, 1)}
        self.process: subprocess.Popen[bytes] | None = None

    def check_config(self) -> None:
        command = [installed("haproxy") or "haproxy", "-c", "-q", "-f", str(HAPROXY_CONFIG)]
        checked = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=30, check=False)
        if checked.returncode:
            raise BenchError(f"HAProxy refuses {HAPROXY_CONFIG.name}:\n{checked.stdout}{checked.stderr}")

    def start(self) -> None:
        command = [installed("haproxy") or "haproxy", "-db", "-f", str(HAPROXY_CONFIG)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log, start_new_session=True)
        for name in ("app1", "app2", "app3"):
            self.wait_up(name)

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.socket))
            conn.sendall(line.encode() + b"\n")
            return conn.makefile(encoding="utf-8", errors="replace").read()  # HAProxy closes it after answering

    def stat(self, name: str) -> dict[str, str]:
        """HAProxy's figures for instance `name`: status, scur (requests in progress), ..."""
        rows = csv.DictReader(self.command("show stat").removeprefix("# ").splitlines())
        return next(row for row in rows if row["pxname"] == "app" and row["svname"] == name)

    def is_up(self, name: str) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise BenchError(f"HAProxy exited:\n{self.log_path.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError):  # no socket yet
            return self.stat(name)["status"].startswith("UP")
        return False

    def wait_up(self, name: str) -> None:
        harness.wait_until(lambda: self.is_up(name), 20, f"HAProxy did not see {name} up")

    def log(self) -> tuple[dict[str, dict[str, str]], int | None]:
        """Each request's log line by its id; the requests in progress on app1 when it was marked down."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        requests = {match["id"]: match.groupdict() for line in lines if (match := HAPROXY_LOG.match(line))}
        down = (re.search(r"Server app/app1 is DOWN, .* (\d+) sessions active", line) for line in lines)
        return requests, next((int(match[1]) for match in down if match), None)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


@dataclass
class Faults:
    """app1 killed at KILL_AT and started at RESTART_AT, app2 restarted gracefully at GRACEFUL_AT, on CLOCK, in a
    thread of its own; `windows`: when the kill and the graceful restart began and ended, on the wall clock (the
    journal's). `end` stops it between two steps, so that no instance is started or stopped after it returns."""

    instances: list[Gunicorn]
    balancer: HAProxy
    events: list[str] = field(default_factory=list)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event, init=False)
    thread: threading.Thread | None = field(default=None, init=False)

    def event(self, text: str) -> None:
        self.events.append(f"{CLOCK.now():5.1f} s  {text}")

    def start(self, marker: Path) -> None:
        self.thread = threading.Thread(target=self.run, args=(marker,), daemon=True)
        self.thread.start()

    def end(self) -> bool:
        """Stop at the next step; whether the thread is over. A step under way finishes first: at most a
        gunicorn's start (60 s) or stop (50 s)."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(90)
        return self.thread is None or not self.thread.is_alive()

    def go_on(self) -> None:
        if self.stopping.is_set():
            raise BenchError("stopped before its end (the load was over, or the script is ending)")

    def sleep_until(self, moment: float) -> None:
        """Until `moment` seconds on CLOCK."""
        self.stopping.wait(max(0.0, moment - CLOCK.now()))
        self.go_on()

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        harness.wait_until(lambda: self.stopping.is_set() or ready(), timeout, what)
        self.go_on()

    def run(self, marker: Path) -> None:
        """Once the locustfile has written down in `marker` when every user runs (CLOCK's origin)."""
        app1, app2 = self.instances[:2]
        try:
            self.wait_until(lambda: marker.exists() and bool(marker.read_text()), 120, "the load did not start")
            CLOCK.origin = float(marker.read_text())
            self.sleep_until(KILL_AT)
            self.event("app1: SIGKILL (master and both workers)")
            killed = time.time()  # before the signal: a request in flight started before it ended
            app1.kill()
            self.windows["kill"] = (killed, time.time())
            self.sleep_until(RESTART_AT)
            self.event("app1: starting again")
            app1.start()
            self.wait_until(lambda: self.balancer.is_up("app1"), 20, "HAProxy did not see app1 up")
            self.event("app1: up again (health checks pass)")
            self.sleep_until(GRACEFUL_AT)
            began = time.time()
            # As an orchestrator does: no new requests (drain), those in progress finish, SIGTERM, start, ready.
            self.balancer.command("set server app/app2 state drain")
            self.event("app2: drained (no new requests)")
            with contextlib.suppress(BenchError):  # after 10 s, SIGTERM all the same
                harness.wait_until(lambda: not int(self.balancer.stat("app2")["scur"] or 0), 10, "app2 not drained")
            self.go_on()
            self.event(f"app2: SIGTERM with {self.balancer.stat('app2')['scur'] or 0} requests in progress")
            app2.stop()
            self.go_on()
            self.event("app2: exited; starting again")
            app2.start()
            self.balancer.command("set server app/app2 state ready")
            self.wait_until(lambda: self.balancer.is_up("app2"), 20, "HAProxy did not see app2 up")
            self.event("app2: up again, back in the rotation")
            self.windows["graceful"] = (began, time.time())
        except Exception as exc:  # reported in the timeline; the goal "the faults ran as planned" fails
            self.event(f"the timeline failed: {type(exc).__name__}: {exc}")


def sample_connections(database: str, stop: threading.Event, peak: list[int]) -> None:
    """The most PostgreSQL connections to the test's database at any one time."""
    with psycopg.connect(harness.database_url("postgres"), autocommit=True, connect_timeout=5) as conn:
        while not stop.wait(0.5):
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)).fetchone()
            peak[0] = max(peak[0], int(row[0]) if row else 0)


def check_writes(database: str, journal: dict[str, Any]) -> list[Check]:
    """Each written task's last acknowledged state (the journal's) against its row in the database."""
    with psycopg.connect(harness.database_url(database), connect_timeout=5) as conn:
        stored = {row[0]: (row[1], row[2]) for row in conn.execute("SELECT id, title, status FROM tasks_task")}
    # Task id -> its last acknowledged (title, status), None once deleted; a task whose last write got no
    # expected answer is not there (that write may or may not have been applied).
    checked: dict[str, list[str] | None] = journal["acknowledged"]
    lost = []
    for task_id, state in checked.items():
        acknowledged, found = tuple(state) if state else None, stored.get(int(task_id))
        if found != acknowledged:
            lost.append(f"task {task_id}: {acknowledged or 'deleted'} acknowledged, {found or 'no row'} stored")
    writes = [
        (request_id, kind, str(status) == load.expected(kind))
        for request_id, kind, _, _, _, status in journal["requests"]
        if kind in {"create", "update", "delete"}
    ]
    titles = Counter(title for title, _ in stored.values() if title.startswith("load "))
    duplicates = sum(count - 1 for count in titles.values() if count > 1)
    say(f"write requests acknowledged (201, 200, 204): {sum(answered for _, _, answered in writes)}")
    say(
        f"tasks whose last write was acknowledged: {len(checked)}; found in the database as acknowledged: "
        f"{len(checked) - len(lost)}; lost: {len(lost)}; duplicated: {duplicates}"
    )
    # A create's title is `load <its request id>` (the locustfile's).
    applied = sum(
        titles[f"load {request_id}"] > 0 for request_id, kind, answered in writes if kind == "create" and not answered
    )
    say(f"creates answered with an error but applied anyway (answer lost in flight): {applied}")
    for write in lost[:10]:
        say(f"  lost: {write}")
    return [Check("0 acknowledged writes lost", not lost), Check("0 duplicates", duplicates == 0)]


def check_login_limit(instances: list[Gunicorn], balancer: HAProxy) -> list[Check]:
    """Failed logins on one account per way of spreading them over the instances, until the 429. Sent
    directly, a request says (X-Forwarded-For) it came from 127.0.0.1, as HAProxy's do."""
    from accounts.models import User

    urls = [instance.url for instance in instances]
    plans = {
        "every attempt on app1": urls[:1],
        "every attempt on app3": urls[2:],
        "round-robin app1, app2, app3": urls,
        "through HAProxy": [balancer.url],
    }
    say(f"failed-login limit ({LOGIN_LIMIT} per account and address, counted in Redis {harness.REDIS_URL}):")
    held = True
    with httpx.Client(timeout=30) as http:
        for index, (label, targets) in enumerate(plans.items()):
            form = {"username": f"limit{index}@example.com", "password": "wrong"}
            User.objects.create_user(email=form["username"], password=load.PASSWORD)
            headers = {} if label == "through HAProxy" else {"X-Forwarded-For": "127.0.0.1"}
            failures, retry_after = 0, False
            for url in itertools.islice(itertools.cycle(targets), LOGIN_LIMIT + 5):
                response = http.post(f"{url}/api/v1/auth/login", data=form, headers=headers)
                if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
                    retry_after = "retry-after" in response.headers
                    break
                failures += response.status_code == httpx.codes.UNAUTHORIZED
            say(f"  {label:<32} 429 after {failures} failed attempts{'' if retry_after else ' (no Retry-After!)'}")
            held = held and failures == LOGIN_LIMIT and retry_after
    return [Check("the same login limit on every instance", held)]


def report_failures(requests: list[list[Any]], faults: Faults, balancer: HAProxy) -> list[Check]:
    """The timeline, then every failed request (no answer, or not its kind's status) by cause, with HAProxy's
    log line of the same request id; the goals that depend on them."""
    say("timeline:")
    for event in faults.events:
        say(f"  {event}")
    logged, active = balancer.log()
    kill = faults.windows.get("kill", (math.inf, math.inf))
    graceful = faults.windows.get("graceful", (math.inf, math.inf))
    causes: Counter[str] = Counter()
    failed_gets = begun_gets = in_graceful = killed_in_flight = 0
    for request_id, kind, method, started, ended, status in requests:
        if str(status) == load.expected(kind):
            continue
        line = logged.get(request_id)
        server, term = (line["server"], line["term"]) if line else ("-", "-")
        logged_as = f"{server} {term}" if line else "no log line"
        # In flight at the kill: across its moment, on app1 by HAProxy's log, or with no answer and no log line
        # (HAProxy closes the client's connection, unlogged, when an instance dies in a request it may not retry).
        killed = started <= kill[1] and ended >= kill[0] and (server == "app1" if line else status is None)
        if killed:
            cause = f"{method} in flight on app1 when it was killed (HAProxy: {logged_as}, {status or 'no answer'})"
        elif status is None:
            cause = f"{method} no answer from HAProxy ({logged_as})"
        else:
            retries = f", retries {line['retries']}" if line else ""
            cause = f"{method} {kind} {status} from {server} (HAProxy: {term}{retries})"
        causes[cause] += 1
        is_get = method in {"GET", "HEAD"}
        failed_gets += is_get
        # "SD": the instance died after the start of its answer was passed on, which no balancer can retry.
        begun_gets += is_get and killed and term.startswith("SD")
        in_graceful += graceful[0] <= ended and started <= graceful[1]
        killed_in_flight += killed
    say(
        f"failed requests: {causes.total()}; failed GETs: {failed_gets}, of which {begun_gets} "
        "had begun to answer on app1 when it was killed (not retryable)"
    )
    for cause, count in causes.most_common():
        say(f"  {count:>5}  {cause}")
    say(
        f"requests in progress on app1 when HAProxy marked it down (its log): {active}; "
        f"of them failed: {killed_in_flight}"
    )
    retried = sum(line["retries"] not in {"0", "+0"} for line in logged.values())
    say(f"retried by HAProxy on another instance: {retried}")
    return [
        Check("0 failed GETs (but those whose answer had begun on the killed instance)", failed_gets == begun_gets),
        Check("0 failed requests during the graceful restart", in_graceful == 0),
        Check(
            "failures only among requests in flight on the killed instance",
            causes.total() == killed_in_flight <= (active or 0),
        ),
    ]


def pgbouncer(*args: object) -> subprocess.CompletedProcess[str]:
    command = ["bash", str(ROOT / "scripts" / "pgbouncer.sh"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--balancer-port", type=int, default=8210, help="HAProxy's port, default 8210")
    parser.add_argument("--port", type=int, default=8211, help="the first instance's (then the next 2), default 8211")
    parser.add_argument("--pgbouncer-port", type=int, default=6441, help="PgBouncer's port, default 6441")
    parser.add_argument("--logs", type=Path, help="keep the run's logs and journal in a new directory in this one")
    args = load.parse_load_args(parser, max_clients=256, durations=(55, 600))  # the faults end at about 50 s
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    database = f"issue14_scale_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="scale-out-", dir=args.logs))
    # A directory of its own: as root, PgBouncer runs as the postgres user, who cannot enter `workdir`.
    pgbouncer_dir = Path(tempfile.mkdtemp(prefix="scale-out-pgbouncer-"))
    instance_ports = [args.port + n for n in range(3)]
    balancer = HAProxy(workdir, args.balancer_port, instance_ports)
    cache = redis.Redis.from_url(harness.REDIS_URL)
    # One environment, so one JWT_SECRET_KEY: the seed's tokens are the instances' tokens.
    env = harness.production_env(
        f"postgres://postgres@127.0.0.1:{args.pgbouncer_port}/{database}",
        DATABASE_PGBOUNCER="true",
        TRUSTED_PROXY_COUNT="1",
        THROTTLE_LOGIN_FAILURES=f"{LOGIN_LIMIT}/hour",
        THROTTLE_LOGIN_FAILURES_PER_ADDRESS="",  # every client comes from 127.0.0.1
        GUNICORN_GRACEFUL_TIMEOUT="25",
    )
    instances = [Gunicorn(env, port, workdir / f"app{n}.log") for n, port in enumerate(instance_ports, 1)]
    faults = Faults(instances, balancer)

    def run() -> bool:
        # Before the seed, which takes a while: what would stop the run later.
        missing = [program for program in ("haproxy", "pgbouncer") if not installed(program)]
        if missing:
            raise BenchError(f"missing {', '.join(missing)}: apt-get install {' '.join(missing)}")
        # Debian's PgBouncer only warns when its port is taken, and its readiness probe would reach the holder.
        ports = [args.balancer_port, *instance_ports, args.pgbouncer_port]
        busy = [port for port in ports if not harness.port_is_free(port)]
        if busy:
            raise BenchError(f"ports already in use on 127.0.0.1: {', '.join(map(str, busy))}")
        balancer.check_config()
        say(f"load average before: {harness.load_average()}")
        # Migrations and the seed talk to PostgreSQL directly.
        direct = env | {"DATABASE_URL": harness.database_url(database), "DATABASE_PGBOUNCER": "false"}
        accounts = load.seed_accounts(direct, database, workdir, prefix="scale", users=args.clients)
        bouncer = pgbouncer("start", pgbouncer_dir, args.pgbouncer_port, POOL_SIZE)
        if bouncer.returncode:
            raise BenchError(f"PgBouncer did not start:\n{bouncer.stdout}{bouncer.stderr}")
        cache.flushdb()  # BENCH_REDIS_URL's database is the bench's: rate-limit counters start from zero
        for instance in instances:
            instance.start()
        balancer.start()
        say(
            f"HAProxy on {balancer.url.removeprefix('http://')} -> 3 gunicorn instances (2 sync workers each) on "
            f"{', '.join(map(str, instance_ports))} -> PgBouncer :{args.pgbouncer_port} (transaction mode, "
            f"pool {POOL_SIZE}) -> PostgreSQL :5432; Redis {harness.REDIS_URL}"
        )
        say(
            f"{args.clients} clients (Locust users) for {args.duration:.0f} s; SIGKILL app1 at {KILL_AT:.0f} s, "
            f"start it at {RESTART_AT:.0f} s; graceful restart of app2 at {GRACEFUL_AT:.0f} s"
        )
        marker, journal = workdir / "started", workdir / "journal.json"
        faults.start(marker)
        stop_sampling, peak = threading.Event(), [0]
        sampler = threading.Thread(target=sample_connections, args=(database, stop_sampling, peak), daemon=True)
        sampler.start()
        hooks = {"BENCH_STARTED": str(marker), "BENCH_JOURNAL": str(journal)}  # the locustfile's
        load.run_locust(balancer.url, accounts, workdir / "load", users=args.clients, duration=args.duration, **hooks)
        stop_sampling.set()
        sampler.join(5)
        if not faults.end():  # before touching the instances: the timeline may be starting or stopping one
            raise BenchError("the timeline did not end within 90 s of the load")
        for instance in instances:  # should the timeline have failed: the login-limit probe needs all three
            if instance.process is None:
                instance.start()
        recorded = json.loads(journal.read_text())
        load.print_stats(workdir / "load", " (through HAProxy)")
        checks = report_failures(recorded["requests"], faults, balancer)
        checks.append(Check("the faults ran as planned", faults.windows.keys() == {"kill", "graceful"}))
        say(
            f"PostgreSQL connections to the database at most: {peak[0]} "
            f"(6 gunicorn workers through PgBouncer, pool {POOL_SIZE}, plus this script's own)"
        )
        checks += check_writes(database, recorded) + check_login_limit(instances, balancer)
        load.print_log_problems(instances, "server logs")
        say("goals:")
        passed = harness.print_checks(checks)
        say(f"load average after: {harness.load_average()}")
        return passed

    def clean_up() -> None:
        faults.end()  # first, or it could start an instance after they are stopped
        balancer.stop()
        for instance in instances:
            instance.stop()
        pgbouncer("stop", pgbouncer_dir)
        shutil.rmtree(pgbouncer_dir, ignore_errors=True)
        harness.drop_database(database)
        with contextlib.suppress(redis.RedisError):
            cache.flushdb()
        if args.logs:
            say(f"logs and journal kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    return harness.verdict(run, clean_up, failure="a goal was missed (see above)")


if __name__ == "__main__":
    raise SystemExit(main())
