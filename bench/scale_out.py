"""Scale-out test: three app instances behind HAProxy, PgBouncer and one Redis, instances killed under load.

    .venv/bin/python bench/scale_out.py [--clients 64] [--duration 60] [--logs DIR]
        [--balancer-port 8210] [--port 8211] [--pgbouncer-port 6441]

On this machine only (127.0.0.1), it starts:

- a fresh database `issue14_scale_<pid>` on the machine's PostgreSQL (127.0.0.1:5432), migrated
  and seeded with one account per client;
- a PgBouncer of its own in transaction mode (scripts/pgbouncer.sh, 127.0.0.1:--pgbouncer-port) with a pool of
  POOL_SIZE server connections, which every instance shares (`DATABASE_PGBOUNCER=true`);
- three gunicorn instances (production settings, 2 sync workers each) on --port and the next two,
  sharing Redis DB 14 (127.0.0.1:6379/14: cache and rate-limit counters);
- HAProxy (Debian's package) on 127.0.0.1:--balancer-port: health checks on /health/ready every second,
  round-robin balancing, and retries on another instance: any request whose connection
  failed, and GET/HEAD requests whose answer was lost (an empty or broken answer, a 502/503/504).

Then 64 clients (bench/load.py's Locust users, each with its own account and session) send the
mixed workload through HAProxy for 60 s, while the script

- at 20 s kills instance 1 with SIGKILL (master and workers), and starts it again at 35 s;
- at 45 s restarts instance 2 gracefully, as an orchestrator does: HAProxy stops sending it new
  requests (drain, as Kubernetes removes a stopping pod from the endpoints during `preStop`), its
  requests in progress finish, then SIGTERM, a new start, and back into the rotation once ready.

It prints the requests, req/s, statuses, failed requests by cause (from HAProxy's log, matched by
X-Request-ID), the writes acknowledged against what the database holds afterwards (lost, and
duplicated), and the failed-login limit reached after the same number of attempts whichever
instance each attempt lands on. Exit 0 when every goal holds, 1 when one does not, 2 when the
test cannot run. Everything it started is stopped, and the database dropped, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # import `bench.harness` from the root: in bench/, `common` is not the project's app

from bench.harness import (  # noqa: E402
    BenchError,
    Clock,
    Gunicorn,
    create_database,
    database_url,
    drop_database,
    port_is_free,
    production_env,
    say,
    verdict,
)
from bench.load import (  # noqa: E402
    EXPECTED_STATUS,
    PASSWORD,
    TASKS_PER_USER,
    accounts_file,
    print_kinds,
    read_stats,
    run_locust,
    status_counts,
)

POOL_SIZE = 4  # PostgreSQL connections PgBouncer opens for the six gunicorn workers
REDIS_URL = "redis://127.0.0.1:6379/14"
KILL_AT, RESTART_AT, GRACEFUL_AT = 20.0, 35.0, 45.0
# The failed-login limit under test (per account and address). Per hour, so that no fixed window
# ends in the middle of the probe.
LOGIN_LIMIT = 8
# Health checks every second (faster while a server changes state), down after 2 failures, up
# after 2 passes; a refused connection from real traffic marks the server down at once.
SERVER_OPTIONS = (
    "check inter 1s fastinter 250ms downinter 500ms fall 2 rise 2 maxconn 3 "
    "observe layer4 error-limit 1 on-error mark-down"
)
CLOCK = Clock()  # the load's: from the moment every simulated user runs (Timeline.run sets it)
HAPROXY_LOG = re.compile(
    r"^REQ (?P<id>\S+) (?P<server>\S+) (?P<status>-?\d+) (?P<term>\S+) (?P<retries>\S+) (?P<method>\S+)"
)


@dataclass(frozen=True)
class Sent:
    """One request as the client saw it (from the locustfile's journal), on CLOCK."""

    request_id: str
    kind: str
    method: str
    started: float
    ended: float
    status: int | None


class HAProxy:
    """HAProxy in the foreground, its log (one line per request) to a file, its runtime API on a socket."""

    def __init__(self, workdir: Path, port: int, instance_ports: list[int]) -> None:
        self.port, self.instance_ports = port, instance_ports
        self.config = workdir / "haproxy.cfg"
        self.socket = workdir / "haproxy.sock"
        self.log_path = workdir / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        servers = "\n".join(
            f"    server app{index} 127.0.0.1:{port}" for index, port in enumerate(self.instance_ports, start=1)
        )
        self.config.write_text(f"""\
global
    maxconn 2000
    log stdout format raw local0
    stats socket {self.socket} mode 600 level admin

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 35s
    timeout server 35s
    timeout queue 15s
    timeout http-request 10s
    # A failed attempt is tried again (3 times), each time on another instance.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response response-timeout 502 503 504

frontend api
    bind 127.0.0.1:{self.port}
    capture request header X-Request-ID len 40
    log-format "REQ %[capture.req.hdr(0)] %s %ST %ts %rc %HM %Tt"
    option forwardfor
    default_backend app

backend app
    # Round robin: a retry goes to the next instance (least-connections would pick a dead one,
    # which has none, again).
    balance roundrobin
    # Only a request that never reached an instance may be sent again whatever its method: a POST,
    # PATCH or DELETE whose answer was lost may have been applied.
    http-request disable-l7-retry unless {{ method GET HEAD }}
    option httpchk
    http-check send meth GET uri /health/ready ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    # Two sync workers per instance: at most this many requests each, the rest wait here, where an
    # instance's death cannot lose them.
    default-server {SERVER_OPTIONS}
{servers}
""")

    def start(self) -> None:
        program = shutil.which("haproxy") or "/usr/sbin/haproxy"
        check = subprocess.run(
            [program, "-c", "-q", "-f", str(self.config)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise BenchError(f"HAProxy refuses its configuration:\n{check.stdout}{check.stderr}")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [program, "-db", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"HAProxy exited:\n{self.log_path.read_text(errors='replace')[-2000:]}")
            if self.socket.exists() and "app3" in self.command("show servers state app"):
                return
            time.sleep(0.2)
        raise BenchError("HAProxy did not start within 15 s")

    def command(self, line: str) -> str:
        """One command on HAProxy's runtime API; its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(str(self.socket))
            conn.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def current_sessions(self, server: str) -> int:
        """Requests HAProxy has in progress on `server` now."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "app" and row.get("svname") == server:
                return int(row.get("scur") or 0)
        raise BenchError(f"HAProxy has no server {server}")

    def wait_up(self, server: str, timeout: float = 20) -> None:
        """Wait until the health checks say `server` is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.command("show stat").splitlines():
                fields = line.split(",")
                if fields[:2] == ["app", server] and fields[17].startswith("UP"):
                    return
            time.sleep(0.2)
        raise BenchError(f"HAProxy did not see {server} up within {timeout:.0f} s")

    def in_progress_when_down(self, server: str) -> int | None:
        """How many requests HAProxy had in progress on `server` when it marked it down, from its log."""
        pattern = re.compile(rf"Server app/{server} is DOWN, .* (\d+) sessions active")
        for line in self.log_path.read_text(errors="replace").splitlines():
            if match := pattern.search(line):
                return int(match[1])
        return None

    def requests(self) -> dict[str, dict[str, str]]:
        """HAProxy's log line of each request, by request id."""
        found = {}
        for line in self.log_path.read_text(errors="replace").splitlines():
            if match := HAPROXY_LOG.match(line):
                found[match["id"]] = match.groupdict()
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


class PgBouncer:
    """The PgBouncer of scripts/pgbouncer.sh on 127.0.0.1:`port`, in a directory of its own in /tmp
    (as root, PgBouncer runs as the postgres user, who must reach it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="scale-out-pgbouncer-"))

    def start(self) -> None:
        command = ["bash", str(ROOT / "scripts" / "pgbouncer.sh"), "start", str(self.directory), str(self.port)]
        result = subprocess.run([*command, str(POOL_SIZE)], capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise BenchError(f"PgBouncer did not start:\n{result.stdout}{result.stderr}")

    def stop(self) -> None:
        command = ["bash", str(ROOT / "scripts" / "pgbouncer.sh"), "stop", str(self.directory)]
        subprocess.run(command, capture_output=True, timeout=30, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


def graceful_restart(instance: Gunicorn, name: str, balancer: HAProxy, events: list[str]) -> None:
    """Drain, wait for the requests in progress, SIGTERM, start again, and back into the rotation."""
    balancer.command(f"set server app/{name} state drain")
    events.append(f"{CLOCK.now():5.1f} s  {name}: drained (no new requests)")
    deadline = time.monotonic() + 10
    while balancer.current_sessions(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    events.append(f"{CLOCK.now():5.1f} s  {name}: SIGTERM with {balancer.current_sessions(name)} requests in progress")
    instance.stop()
    events.append(f"{CLOCK.now():5.1f} s  {name}: exited; starting again")
    instance.start()
    balancer.command(f"set server app/{name} state ready")
    balancer.wait_up(name)
    events.append(f"{CLOCK.now():5.1f} s  {name}: up again, back in the rotation")


@dataclass
class Timeline:
    """The faults, on the clock the clients share."""

    instances: list[Gunicorn]
    balancer: HAProxy
    events: list[str] = field(default_factory=list)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    error: str | None = None

    def run(self, started: Path) -> None:
        """Wait for the locustfile to write down when every user runs, then cause the faults."""
        try:
            deadline = time.monotonic() + 120
            while not started.exists() or not started.read_text():
                if time.monotonic() > deadline:
                    raise BenchError("the load did not start")
                time.sleep(0.05)
            CLOCK.origin = float(started.read_text())
            self._sleep_until(KILL_AT)
            killed = CLOCK.now()  # before the signal: a request in flight started before it ended
            self.instances[0].kill()
            self.windows["kill"] = (killed, CLOCK.now())
            self.events.append(f"{killed:5.1f} s  app1: SIGKILL (master and both workers)")
            self._sleep_until(RESTART_AT)
            self.events.append(f"{CLOCK.now():5.1f} s  app1: starting again")
            self.instances[0].start()
            self.balancer.wait_up("app1")
            self.events.append(f"{CLOCK.now():5.1f} s  app1: up again (health checks pass)")
            self.windows["sigkill"] = (killed, CLOCK.now())
            self._sleep_until(GRACEFUL_AT)
            began = CLOCK.now()
            graceful_restart(self.instances[1], "app2", self.balancer, self.events)
            self.windows["graceful"] = (began, CLOCK.now())
        except Exception as exc:  # reported, and fails the run
            self.error = f"{type(exc).__name__}: {exc}"

    @staticmethod
    def _sleep_until(moment: float) -> None:
        time.sleep(max(0.0, moment - CLOCK.now()))


def sample_connections(database: str, stop: threading.Event, peak: list[int]) -> None:
    """The most PostgreSQL connections to the test's database at any one time (once a second)."""
    with psycopg.connect(database_url("postgres"), autocommit=True, connect_timeout=5) as conn:
        while not stop.wait(0.5):
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)).fetchone()
            peak[0] = max(peak[0], int(row[0]) if row else 0)


@dataclass(frozen=True)
class WriteCheck:
    acknowledged: int
    found: int
    lost: list[str]
    duplicates: int
    unacknowledged_applied: int


@dataclass(frozen=True)
class Writes:
    """What the server acknowledged to one user (or may have applied without an answer)."""

    created: dict[int, str]  # id -> title
    failed_creates: set[str]  # titles of creates with no 201
    deleted: set[int]
    updated: dict[int, tuple[str, str]]  # id -> last acknowledged (title, status)
    uncertain: set[int]  # a delete or update without an answer


def read_journal(path: Path) -> tuple[list[Sent], list[Writes]]:
    """The locustfile's journal: every request, on CLOCK, and each user's writes."""
    journal = json.loads(path.read_text())
    sent = [
        Sent(rid, kind, method, start - CLOCK.origin, end - CLOCK.origin, status)
        for rid, kind, method, start, end, status in journal["requests"]
    ]
    writes = [
        Writes(
            created={int(task_id): title for task_id, title in user["created"].items()},
            failed_creates=set(user["failed_creates"]),
            deleted=set(user["deleted"]),
            updated={int(task_id): (title, status) for task_id, (title, status) in user["updated"].items()},
            uncertain=set(user["uncertain"]),
        )
        for user in journal["users"]
    ]
    return sent, writes


def check_writes(database: str, clients: list[Writes]) -> WriteCheck:
    """Every acknowledged create, update and delete against what the database holds now."""
    with psycopg.connect(database_url(database), connect_timeout=5) as conn:
        rows = conn.execute("SELECT id, title, status FROM tasks_task").fetchall()
    in_db = {row[0]: (row[1], row[2]) for row in rows}
    titles = Counter(title for title, _ in in_db.values() if title.startswith("load "))
    lost: list[str] = []
    acknowledged = found = 0
    for client in clients:
        for task_id, title in client.created.items():
            acknowledged += 1
            present = task_id in in_db or task_id in client.deleted
            found += present
            if not present and task_id not in client.uncertain:
                lost.append(f"create {task_id} ({title})")
        for task_id in client.deleted:
            acknowledged += 1
            found += task_id not in in_db
            if task_id in in_db:
                lost.append(f"delete {task_id}")
        for task_id, change in client.updated.items():
            acknowledged += 1
            if task_id in client.deleted:
                found += 1
            elif task_id in client.uncertain:
                found += 1  # a later write without an answer may have replaced it: nothing to compare
            elif in_db.get(task_id) == change:
                found += 1
            else:
                lost.append(f"update {task_id}: {change} acknowledged, {in_db.get(task_id)} stored")
    applied = sum(titles[title] > 0 for client in clients for title in client.failed_creates)
    return WriteCheck(acknowledged, found, lost, sum(count - 1 for count in titles.values() if count > 1), applied)


def login_limit_probe(instances: list[Gunicorn], balancer: HAProxy) -> list[tuple[str, int, bool]]:
    """For each way of spreading attempts over the instances: the failed logins answered 401 before
    the first 429, and whether the 429 carried Retry-After. As HAProxy would, each request says
    (X-Forwarded-For) that it came from 127.0.0.1."""
    from accounts.models import User

    emails = [f"limit{index}@example.com" for index in range(4)]
    for email in emails:
        User.objects.create_user(email=email, password=PASSWORD)
    urls = [instance.url for instance in instances]
    plans = {
        "every attempt on app1": lambda n: urls[0],
        "every attempt on app3": lambda n: urls[2],
        "round-robin app1, app2, app3": lambda n: urls[n % 3],
        "through HAProxy": lambda n: f"http://127.0.0.1:{balancer.port}",
    }
    results = []
    with httpx.Client(timeout=30) as http:
        for (label, target), email in zip(plans.items(), emails, strict=True):
            failures, retry_after = 0, False
            for attempt in range(LOGIN_LIMIT + 5):
                headers = {} if "HAProxy" in label else {"X-Forwarded-For": "127.0.0.1"}
                response = http.post(
                    f"{target(attempt)}/api/v1/auth/login",
                    data={"username": email, "password": "wrong"},
                    headers=headers,
                )
                if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
                    retry_after = "retry-after" in response.headers
                    break
                failures += response.status_code == httpx.codes.UNAUTHORIZED
            results.append((label, failures, retry_after))
    return results


def report(
    csv_prefix: Path,
    sent: list[Sent],
    timeline: Timeline,
    balancer: HAProxy,
    writes: WriteCheck,
    limits: list[tuple[str, int, bool]],
    peak_connections: int,
) -> bool:
    """Print the figures; True when every goal holds."""
    kinds, _ = read_stats(csv_prefix)
    total = kinds["all"]
    say(f"requests: {total.count} in {total.count / total.rate:.1f} s = {total.rate:.1f} req/s (through HAProxy)")
    say(f"statuses: {status_counts(total.statuses)}")
    print_kinds(kinds, with_max=False)
    say("timeline:")
    for event in timeline.events:
        say(f"  {event}")
    if timeline.error:
        say(f"  the timeline failed: {timeline.error}")

    # A failure: no answer, a 5xx, or an answer other than the one expected (login: 200, ...).
    logged = balancer.requests()
    kill_start, kill_end = timeline.windows.get("kill", (KILL_AT, KILL_AT))
    graceful = timeline.windows.get("graceful", (GRACEFUL_AT, GRACEFUL_AT))
    causes: Counter[str] = Counter()
    failed_gets = mid_answer_gets = in_graceful = outside_kill = killed_in_flight = 0
    for request in sent:
        if request.status == EXPECTED_STATUS.get(request.kind, 200):
            continue
        line = logged.get(request.request_id)
        server = line["server"] if line else "-"
        term = line["term"] if line else "-"
        # No answer, or HAProxy's own error, for a request sent to app1 before the kill and ended after.
        # In flight at the kill: across its moment, on app1 by HAProxy's log, or with no answer and no
        # log line at all (HAProxy closes the client's connection when a server dies before
        # answering a request it may not retry, and does not always log it).
        across_kill = request.started <= kill_end and request.ended >= kill_start
        in_flight_at_kill = across_kill and (server == "app1" or (line is None and request.status is None))
        if in_flight_at_kill:
            answer = "no answer" if request.status is None else str(request.status)
            logged_as = f"{server} {term}" if line else "no log line"
            cause = f"{request.method} in flight on app1 when it was killed (HAProxy: {logged_as}, {answer})"
            killed_in_flight += 1
        elif request.status is None:
            cause = f"{request.method} no answer from HAProxy ({f'{server} {term}' if line else 'not in its log'})"
        else:
            cause = f"{request.method} {request.kind} {request.status} from {server} (HAProxy: {term})"
        causes[cause] += 1
        if request.method in {"GET", "HEAD"}:
            # HAProxy's "SD": the instance died after the start of its answer had been passed on to
            # the client. That cannot be taken back, so no balancer can retry it; any earlier
            # failure it must retry.
            mid_answer = in_flight_at_kill and term.startswith("SD")
            mid_answer_gets += mid_answer
            failed_gets += not mid_answer
        in_graceful += graceful[0] <= request.ended and request.started <= graceful[1]
        outside_kill += not in_flight_at_kill
    failures = sum(causes.values())
    say(
        f"failed requests: {failures}; failed GETs: {failed_gets + mid_answer_gets}, of which {mid_answer_gets} "
        "had begun to answer on app1 when it was killed (not retryable)"
    )
    for cause, count in causes.most_common():
        say(f"  {count:>5}  {cause}")
    active = balancer.in_progress_when_down("app1")
    say(
        f"requests in progress on app1 when HAProxy marked it down (its log): {active}; "
        f"of them failed: {killed_in_flight}"
    )
    retried = sum(1 for line in logged.values() if line["retries"] not in {"0", "+0"})
    say(f"retried by HAProxy on another instance: {retried}")
    say(
        f"PostgreSQL connections to the database at most: {peak_connections} "
        f"(6 gunicorn workers through PgBouncer, pool {POOL_SIZE}, plus this script's own)"
    )
    say(
        f"writes acknowledged: {writes.acknowledged}; found in the database afterwards: {writes.found}; "
        f"lost: {len(writes.lost)}; duplicated: {writes.duplicates}"
    )
    say(f"creates answered with an error but applied anyway (answer lost in flight): {writes.unacknowledged_applied}")
    for lost in writes.lost[:10]:
        say(f"  lost: {lost}")
    say(f"failed-login limit ({LOGIN_LIMIT} per account and address, counted in Redis DB 14):")
    for label, count, retry_after in limits:
        say(f"  {label:<32} 429 after {count} failed attempts{'' if retry_after else ' (no Retry-After!)'}")
    problems = [found for instance in timeline.instances for found in instance.log_problems()]
    say(f"server logs: {len(problems)} error lines")
    for problem in problems[:5]:
        say(f"  {problem[:300]}")

    goals = {
        "0 acknowledged writes lost": not writes.lost and writes.found == writes.acknowledged,
        "0 duplicates": writes.duplicates == 0,
        "0 failed GETs (but those whose answer had begun on the killed instance)": failed_gets == 0,
        "0 failed requests during the graceful restart": in_graceful == 0,
        "failures only among requests in flight on the killed instance": outside_kill == 0
        and killed_in_flight <= (active or 0),
        "the same login limit on every instance": {count for _, count, _ in limits} == {LOGIN_LIMIT}
        and all(retry for *_, retry in limits),
        "the faults ran as planned": timeline.error is None and len(timeline.windows) == 3,
    }
    say("goals:")
    for goal, held in goals.items():
        say(f"  {'ok  ' if held else 'FAIL'} {goal}")
    return all(goals.values())


def require_programs() -> None:
    """HAProxy and PgBouncer from Debian's packages: installed here when missing (as root)."""
    missing = [
        name for name in ("haproxy", "pgbouncer") if not (shutil.which(name) or Path(f"/usr/sbin/{name}").exists())
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        raise BenchError(f"missing {', '.join(missing)}: apt-get install {' '.join(missing)}")
    say(f"installing {', '.join(missing)} (Debian's packages)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        if subprocess.run(command, env=env, capture_output=True, timeout=600, check=False).returncode != 0:
            raise BenchError(f"could not install {', '.join(missing)}: apt-get install {' '.join(missing)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (threads), default 64")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load, default 60 (at least 55)")
    parser.add_argument("--logs", type=Path, help="a directory to copy HAProxy's and the instances' logs to")
    parser.add_argument("--balancer-port", type=int, default=8210, help="HAProxy's port, default 8210")
    parser.add_argument(
        "--port", type=int, default=8211, help="the first instance's port (then the next 2), default 8211"
    )
    parser.add_argument("--pgbouncer-port", type=int, default=6441, help="PgBouncer's port, default 6441")
    args = parser.parse_args()
    if not 1 <= args.clients <= 256 or not 55 <= args.duration <= 600:
        parser.error("--clients must be 1-256 and --duration 55-600 seconds (the faults end at about 50 s)")
    return args


def main() -> int:
    args = parse_args()
    database = f"issue14_scale_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="scale-out-"))
    instance_ports = [args.port + n for n in range(3)]
    balancer = HAProxy(workdir, args.balancer_port, instance_ports)
    pgbouncer = PgBouncer(args.pgbouncer_port)
    cache = redis.Redis.from_url(REDIS_URL)
    # One environment, so one JWT_SECRET_KEY: the seed's tokens are the instances' tokens.
    env = production_env(
        f"postgres://postgres@127.0.0.1:{args.pgbouncer_port}/{database}",
        DATABASE_PGBOUNCER="true",
        REDIS_URL=REDIS_URL,
        TRUSTED_PROXY_COUNT="1",
        THROTTLE_LOGIN_FAILURES=f"{LOGIN_LIMIT}/hour",
        # Every test client comes from 127.0.0.1: the per-address limit would mix them up.
        THROTTLE_LOGIN_FAILURES_PER_ADDRESS="",
        GUNICORN_GRACEFUL_TIMEOUT="25",
    )
    instances = [Gunicorn(env, port, workdir / f"app{n}.log") for n, port in enumerate(instance_ports, 1)]

    def run() -> bool:
        require_programs()
        busy = [port for port in (balancer.port, *instance_ports, pgbouncer.port) if not port_is_free(port)]
        if busy:
            raise BenchError(f"ports already in use on 127.0.0.1: {busy}")
        say(f"load average before: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        create_database(database)
        say(f"database {database}: migrating and seeding {args.clients} users x {TASKS_PER_USER} tasks")
        # Migrations and the seed talk to PostgreSQL directly.
        direct = env | {"DATABASE_URL": database_url(database), "DATABASE_PGBOUNCER": "false"}
        accounts = accounts_file(direct, workdir / "accounts.json", prefix="scale", users=args.clients)
        pgbouncer.start()
        cache.flushdb()  # DB 14 is this test's own: rate-limit counters start from zero
        for instance in instances:
            instance.start()
        balancer.write_config()
        balancer.start()
        for name in ("app1", "app2", "app3"):
            balancer.wait_up(name)
        say(
            f"HAProxy on 127.0.0.1:{balancer.port} -> 3 gunicorn instances (2 sync workers each) on "
            f"{', '.join(map(str, instance_ports))} -> PgBouncer :{args.pgbouncer_port} (transaction mode, "
            f"pool {POOL_SIZE}) -> PostgreSQL :5432; Redis {REDIS_URL}"
        )
        say(
            f"{args.clients} clients (Locust users) for {args.duration:.0f} s; SIGKILL app1 at {KILL_AT:.0f} s, "
            f"start it at {RESTART_AT:.0f} s; graceful restart of app2 at {GRACEFUL_AT:.0f} s"
        )
        timeline = Timeline(instances, balancer)
        started, journal = workdir / "started", workdir / "journal.json"
        threading.Thread(target=timeline.run, args=(started,), daemon=True).start()
        stop_sampling, peak = threading.Event(), [0]
        sampler = threading.Thread(target=sample_connections, args=(database, stop_sampling, peak), daemon=True)
        sampler.start()
        hooks = {"BENCH_STARTED": str(started), "BENCH_JOURNAL": str(journal)}
        host = f"http://127.0.0.1:{balancer.port}"
        run_locust(host, accounts, workdir / "load", users=args.clients, duration=args.duration, extra_env=hooks)
        stop_sampling.set()
        sampler.join(5)
        for instance in instances:
            if instance.process is None:
                instance.start()
        sent, writes = read_journal(journal)
        limits = login_limit_probe(instances, balancer)
        checked = check_writes(database, writes)
        ok = report(workdir / "load", sent, timeline, balancer, checked, limits, peak[0])
        say(f"load average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        return ok

    def clean_up() -> None:
        balancer.stop()
        for instance in instances:
            instance.stop()
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("*.log"):
                shutil.copy(log, args.logs / log.name)
        pgbouncer.stop()
        drop_database(database)
        with contextlib.suppress(redis.RedisError):
            cache.flushdb()
        shutil.rmtree(workdir, ignore_errors=True)

    return verdict(run, clean_up, failure="a goal was missed (see above)")


if __name__ == "__main__":
    raise SystemExit(main())
