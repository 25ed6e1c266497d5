"""Shared helpers for the benchmarks: databases, gunicorn, wrk, /proc readings and the machine.

Nothing here knows about Django or the app's endpoints, so any benchmark script can use it:

    import sys; sys.path[0] = str(ROOT)   # the repo root, so that `bench.common` is importable
    from bench.common import Gunicorn, create_database, production_env, run_wrk, lua_script

`bench/` has no `__init__.py` on purpose: it is a namespace package, imported as `bench.common`
from the repository root (a plain `import common` would find the project's `common` app instead).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psycopg
from psycopg import pq, sql

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
GUNICORN_CONFIG = ROOT / "config" / "gunicorn.py"
# The PostgreSQL server the benchmarks create their databases in (trust authentication).
PG_SERVER_URL = os.environ.get("BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
# Every rate limit the app has; an empty value turns a limit off (see config/settings.py).
THROTTLE_VARIABLES = (
    "THROTTLE_LOGIN_FAILURES",
    "THROTTLE_LOGIN_FAILURES_PER_ADDRESS",
    "THROTTLE_REFRESH",
    "THROTTLE_PASSWORD_RESET",
    "THROTTLE_ANON",
    "THROTTLE_USER",
)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def out(*parts: object) -> None:
    """Print a line to stdout at once (benchmark progress must show while it runs)."""
    print(*parts, flush=True)


# Databases ----------------------------------------------------------------------------------------


def database_url(name: str, server_url: str = PG_SERVER_URL) -> str:
    """The URL of database `name` on the benchmark's PostgreSQL server."""
    return f"{server_url.rstrip('/')}/{name}"


def _admin_connection(server_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(database_url("postgres", server_url), autocommit=True, connect_timeout=5)


def create_database(name: str, server_url: str = PG_SERVER_URL) -> str:
    """Create an empty database `name` (dropping a leftover one first); return its URL."""
    drop_database(name, server_url)
    with _admin_connection(server_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name, server_url)


def drop_database(name: str, server_url: str = PG_SERVER_URL) -> None:
    """Drop database `name` if it exists, disconnecting whoever is still connected to it."""
    with _admin_connection(server_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def server_version(url: str) -> str:
    """The PostgreSQL server's version string, e.g. `15.20 (Debian 15.20-0+deb12u1)`."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


# The app's environment ----------------------------------------------------------------------------


def random_secret(length: int = 64) -> str:
    """A random URL-safe secret of `length` characters."""
    return secrets.token_urlsafe(length)[:length]


def app_variables(settings_file: Path = ROOT / "config" / "settings.py") -> tuple[str, ...]:
    """The variables the app's settings read (their `VARIABLES` tuple), without importing them."""
    tree = ast.parse(settings_file.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "VARIABLES" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise ValueError(f"no VARIABLES tuple in {settings_file}")


def production_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of the app in production mode, with every rate limit turned off.

    Starts from the current environment (PATH and such) minus anything that configures Django,
    gunicorn or the app, so that neither the caller's shell nor a `.env` file changes the setup.
    """
    prefixes = ("DJANGO_", "THROTTLE_", "GUNICORN_", "PROMETHEUS_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes) and key != "PORT"}
    # Every app variable not set below is empty, which means its default, even over a `.env` file.
    env.update(dict.fromkeys(app_variables(), ""))
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": random_secret(),
            "JWT_SECRET_KEY": random_secret(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": database_url,
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
            "EMAIL_URL": "consolemail://",
            "TASK_BACKEND": "immediate",
            "WEB_CONCURRENCY": "2",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(dict.fromkeys(THROTTLE_VARIABLES, ""))
    env.update(overrides)
    return env


# Ports and HTTP -----------------------------------------------------------------------------------


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on `host:port` now (as gunicorn binds: with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, avoid: Sequence[int] = (), tries: int = 50) -> int:
    """`preferred` if it is free, else the next free port above it (not one of `avoid`)."""
    for port in range(preferred, preferred + tries):
        if port not in avoid and port_is_free(port):
            return port
    raise RuntimeError(f"no free port in {preferred}-{preferred + tries - 1}")


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET to `url`, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (our own http:// URL)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


# /proc readings -----------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def children_of(pid: int) -> list[int]:
    """The pids of the live child processes of `pid`."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    children.append(int(entry.name))
    return sorted(children)


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """CPU time (user + system) of `pid`, plus that of its exited and reaped children if asked."""
    fields = _stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _CLOCK_TICKS


@dataclass(frozen=True)
class Memory:
    """A process's resident memory in MB: all of it (RSS), and its proportional share (PSS)."""

    rss_mb: float
    pss_mb: float | None


def memory_of(pid: int) -> Memory:
    """RSS from /proc/<pid>/status; PSS (shared pages split between sharers) where readable."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    pss_mb = None
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss_mb = int(line.split()[1]) / 1024
    return Memory(rss_mb=rss_kb / 1024, pss_mb=pss_mb)


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy since boot, all cores (from /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine, exited backends included.

    The postmaster's reaped-children time holds the backends that have exited.
    """
    postgres = set(pids_named("postgres"))
    total = 0.0
    for pid in postgres:
        with contextlib.suppress(OSError, ValueError, IndexError):
            is_postmaster = int(_stat_fields(pid)[1]) not in postgres
            total += cpu_seconds(pid, reaped_children=is_postmaster)
    return total


def pids_named(comm: str) -> list[int]:
    """The pids of the processes whose command name (/proc/<pid>/comm) is `comm`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == comm:
                    pids.append(int(entry.name))
    return pids


@dataclass(frozen=True)
class CpuMeter:
    """Where the machine's CPU time goes while a load test runs, to tell a disturbed run.

    `other` is what neither the server under test, nor wrk, nor PostgreSQL used: another job on the
    machine (the reason to benchmark an idle one).
    """

    machine: float
    postgres: float
    server: float

    @classmethod
    def read(cls, server: Gunicorn) -> CpuMeter:
        return cls(machine=machine_busy_seconds(), postgres=postgres_cpu_seconds(), server=server.cpu_seconds())

    def since(self, start: CpuMeter, wrk_seconds: float) -> dict[str, float]:
        """CPU seconds used between `start` and this reading, by who."""
        server, postgres = self.server - start.server, self.postgres - start.postgres
        machine = self.machine - start.machine
        other = max(0.0, machine - server - postgres - wrk_seconds)
        return {"machine": machine, "server": server, "postgres": postgres, "wrk": wrk_seconds, "other": other}


def processes_named(names: Sequence[str], exclude: Sequence[int] = ()) -> list[tuple[int, str]]:
    """Running processes whose command line mentions one of `names`: (pid, command line)."""
    found = []
    own = {os.getpid(), *exclude}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            words = [Path(arg.decode(errors="replace")).name for arg in argv[:3] if arg]
            if any(name in word for word in words for name in names):
                found.append((int(entry.name), " ".join(arg.decode(errors="replace") for arg in argv if arg)[:120]))
    return found


# The machine --------------------------------------------------------------------------------------


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory and kernel of this machine."""
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def busy_reasons(exclude: Sequence[int] = (), max_load: float = 0.7) -> list[str]:
    """Why the machine is not idle enough to benchmark on; empty when it is."""
    reasons = [f"{pid} {cmd}" for pid, cmd in processes_named(("gunicorn", "wrk"), exclude)]
    if load_average()[0] > max_load:
        reasons.append(f"1-minute load average {load_average()[0]} > {max_load}")
    return reasons


def wait_until_idle(max_wait: float, max_load: float = 0.7, poll: float = 10.0) -> list[str]:
    """Wait up to `max_wait` seconds for the machine to be idle; the reasons it still is not."""
    deadline = time.monotonic() + max_wait
    reasons = busy_reasons(max_load=max_load)
    while reasons and time.monotonic() < deadline:
        out(f"  machine busy ({'; '.join(reasons)}); waiting...")
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
        reasons = busy_reasons(max_load=max_load)
    return reasons


# gunicorn -----------------------------------------------------------------------------------------


@dataclass
class Gunicorn:
    """A gunicorn server started with the project's config file, bound to 127.0.0.1:`port`.

    `app` is the WSGI target (`config.wsgi` or `bench.floor:application`); `env` the whole
    environment (WEB_CONCURRENCY sets the number of workers). Output goes to `log_path`.
    """

    app: str
    port: int
    env: Mapping[str, str]
    log_path: Path
    config: Path = GUNICORN_CONFIG
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: TextIO | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the master process (which forks the workers); returns at once."""
        command = [str(VENV_BIN / "gunicorn"), "-c", str(self.config), "--bind", f"127.0.0.1:{self.port}", self.app]
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=dict(self.env), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, path: str = "/health/ready", timeout: float = 60.0) -> None:
        """Wait for `path` to answer 200 and for every worker to be up; raise with the log if not."""
        workers = int(self.env.get("WEB_CONCURRENCY") or 1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.app} exited:\n{self.log_tail()}")
            if http_status(self.url + path) == 200 and len(self.worker_pids()) >= workers:
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn {self.app} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The pids of the current workers (they change as workers are recycled)."""
        return children_of(self.process.pid) if self.process is not None else []

    def cpu_seconds(self) -> float:
        """CPU time of the master and of every worker so far, recycled workers included."""
        if self.process is None:
            return 0.0
        total = cpu_seconds(self.process.pid, reaped_children=True)
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                total += cpu_seconds(pid)
        return total

    def wait_quiet(self, max_wait: float = 60.0, window: float = 0.5, busy_share: float = 0.02) -> float:
        """Wait until the server stops using CPU; the seconds waited.

        After wrk stops, a sync worker still answers every connection left in the listen queue (the
        client gone or not): with slow requests (a login's password hash) that is seconds of work
        that would otherwise be charged to the next run.
        """
        started = time.monotonic()
        workers = max(1, len(self.worker_pids()))
        before = self.cpu_seconds()
        while time.monotonic() - started < max_wait:
            time.sleep(window)
            after = self.cpu_seconds()
            if after - before < busy_share * window * workers:
                break
            before = after
        return time.monotonic() - started

    def worker_memory(self) -> list[Memory]:
        """RSS and PSS of each current worker."""
        memories = []
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                memories.append(memory_of(pid))
        return memories

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's output."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server: SIGTERM to the master, then SIGKILL to it and its workers if need be."""
        if self.process is None:
            return
        workers = self.worker_pids()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
        self.process = None

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# wrk ----------------------------------------------------------------------------------------------

ITEM = "{item}"

_LUA_TEMPLATE = """\
-- Generated by bench/common.py: {label}
local method = {method}
local path_parts = {path_parts}
local body_parts = {body_parts}
local headers = {headers}
local items_file = {items_file}
local cycle = {cycle}
local thread_count = {threads}

local threads = {{}}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local items = {{}}
local index = 0
local loaded = false
exhausted = 0
sent = 0

function init(args)
  if items_file then
    local n = 0
    for line in io.lines(items_file) do
      if n % thread_count == id then items[#items + 1] = line end
      n = n + 1
    end
  end
  loaded = true
end

local function build(item)
  local body = nil
  if body_parts then body = table.concat(body_parts, item) end
  local request_headers = {{}}
  for name, parts in pairs(headers) do request_headers[name] = table.concat(parts, item) end
  return wrk.format(method, table.concat(path_parts, item), request_headers, body)
end

function request()
  if not loaded then return build("0") end -- wrk's own check of the script, before init
  local item = ""
  if items_file then
    index = index + 1
    if index > #items then
      if not cycle then
        -- Out of single-use items: stop this thread rather than send one twice. Its
        -- requests stop counting; wrk still divides by the full duration (see done()).
        exhausted = 1
        wrk.thread:stop()
        return wrk.format("GET", "/health/live")
      end
      index = 1
    end
    item = items[index]
  end
  sent = sent + 1
  return build(item)
end

function done(summary, latency, requests)
  local exhausted_threads, total_sent = 0, 0
  for _, thread in ipairs(threads) do
    exhausted_threads = exhausted_threads + (thread:get("exhausted") or 0)
    total_sent = total_sent + (thread:get("sent") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {{"duration_us": %d, "requests": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d, ' ..
    '"sent": %d, "exhausted_threads": %d}}\\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    total_sent, exhausted_threads))
end
"""


def lua_string(value: str) -> str:
    """A Lua string literal for `value` (non-printable and non-ASCII bytes as decimal escapes)."""
    escaped = []
    for byte in value.encode():
        char = chr(byte)
        escaped.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(escaped) + '"'


def _lua_list(parts: Sequence[str]) -> str:
    return "{" + ", ".join(lua_string(part) for part in parts) + "}"


@dataclass(frozen=True)
class LuaRequest:
    """What a generated wrk script sends.

    `{item}` in `path`, `body` or a header's value is replaced, request after request, by the lines of `items_file`,
    which the wrk threads share out between them (each line goes to one thread only). With `cycle`
    the lines are used over and over; without it each is used once, and a thread that has used all
    of its own stops (reported as `exhausted_threads`) rather than send one again.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    items_file: Path | None = None
    cycle: bool = True


def lua_script(spec: LuaRequest, threads: int, label: str = "") -> str:
    """The wrk Lua script for `spec`, run with `threads` wrk threads.

    Its `done()` prints one `BENCH_RESULT {json}` line that `parse_wrk_output` reads.
    """
    headers = "{" + ", ".join(f"[{lua_string(k)}] = {_lua_list(v.split(ITEM))}" for k, v in spec.headers.items()) + "}"
    return _LUA_TEMPLATE.format(
        label=label or f"{spec.method} {spec.path}",
        method=lua_string(spec.method),
        path_parts=_lua_list(spec.path.split(ITEM)),
        body_parts="nil" if spec.body is None else _lua_list(spec.body.split(ITEM)),
        headers=headers,
        items_file="nil" if spec.items_file is None else lua_string(str(spec.items_file)),
        cycle="true" if spec.cycle else "false",
        threads=threads,
    )


@dataclass(frozen=True)
class WrkResult:
    """One wrk run. Latencies in milliseconds; `non_2xx` is wrk's count of non-2xx/3xx answers."""

    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float | None
    p99_ms: float
    non_2xx: int
    socket_errors: int
    exhausted_threads: int = 0
    sent: int | None = None
    wrk_cpu_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk_output(text: str) -> WrkResult:
    """Read a wrk run's output: the `BENCH_RESULT` line of a generated script if there is one,
    else wrk's own text (which needs `--latency` for the percentiles)."""
    for line in text.splitlines():
        if line.startswith("BENCH_RESULT "):
            data = json.loads(line.removeprefix("BENCH_RESULT "))
            seconds = data["duration_us"] / 1e6
            return WrkResult(
                requests=data["requests"],
                seconds=seconds,
                requests_per_second=data["requests"] / seconds if seconds else 0.0,
                p50_ms=data["p50_us"] / 1000,
                p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                non_2xx=data["status_errors"],
                socket_errors=data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"],
                exhausted_threads=data["exhausted_threads"],
                sent=data["sent"],
            )
    return _parse_wrk_text(text)


def _parse_wrk_text(text: str) -> WrkResult:
    requests = re.search(r"(\d+) requests in ([\d.]+\w+)", text)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", text, re.MULTILINE))
    if not (requests and rate and "50" in percentiles and "99" in percentiles):
        raise ValueError(f"unreadable wrk output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return WrkResult(
        requests=int(requests[1]),
        seconds=_duration_ms(requests[2]) / 1000,
        requests_per_second=float(rate[1]),
        p50_ms=_duration_ms(percentiles["50"]),
        p90_ms=_duration_ms(percentiles["90"]) if "90" in percentiles else None,
        p99_ms=_duration_ms(percentiles["99"]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
    )


def run_wrk(
    url: str,
    script: Path,
    *,
    duration: float,
    connections: int,
    threads: int,
    timeout: float = 10.0,
) -> WrkResult:
    """Run wrk against `url` with a Lua script, bounded in time; parse what it printed.

    Also measures wrk's own CPU time: on a small machine it competes with the server for cores.
    """
    wrk = shutil.which("wrk") or "/usr/bin/wrk"
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        f"--timeout={timeout:g}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + duration + timeout + 30
        usage = None
        try:
            while usage is None:
                pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    usage, process.returncode = rusage, os.waitstatus_to_exitcode(status)
                elif time.monotonic() > deadline:
                    raise TimeoutError(f"wrk did not finish: {' '.join(command)}")
                else:
                    time.sleep(0.1)
        finally:
            if usage is None:  # timed out, or interrupted (Ctrl-C, SIGTERM): stop wrk too
                process.kill()
                process.wait()
        output.seek(0)
        text = output.read()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{text}")
    result = parse_wrk_output(text)
    return WrkResult(**{**result.as_dict(), "wrk_cpu_seconds": usage.ru_utime + usage.ru_stime})


# SQL seen on the wire -----------------------------------------------------------------------------


@contextlib.contextmanager
def libpq_trace(connection: psycopg.Connection[Any]) -> Iterator[list[str]]:
    """Record every statement a psycopg connection sends while the block runs.

    Uses libpq's own protocol trace, so it sees what the server receives, including what no
    Python-level hook logs (Django's connection health check, `BEGIN`, `COMMIT`). The list it
    yields is filled in when the block ends.
    """
    statements: list[str] = []
    with tempfile.TemporaryFile("w+b") as trace:
        connection.pgconn.trace(trace.fileno())
        connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield statements
        finally:
            connection.pgconn.untrace()
            trace.seek(0)
            statements.extend(statements_in_trace(trace.read().decode(errors="replace")))


def statements_in_trace(trace: str) -> list[str]:
    """The SQL of each statement the client sent, from a libpq trace (simple or extended protocol)."""
    statements = []
    for line in trace.splitlines():
        fields = line.split("\t", 3)
        if len(fields) < 4 or fields[0] != "F":
            continue
        text = fields[3].strip()
        if fields[2] == "Query":  # Query "<sql>"
            statements.append(text[1:-1])
        elif fields[2] == "Parse" and (match := _PARSE.match(text)):  # Parse "<name>" "<sql>" <types>
            statements.append(match[1])
    return statements


_PARSE = re.compile(r'^"[^"]*" "(.*)" \d+(?: \d+)*$')


def normalize_sql(statement: str) -> str:
    """`statement` with its literal values replaced by `?`, to compare statements of two programs."""
    statement = re.sub(r"'(?:[^']|'')*'(?:::\w+)?", "?", statement)
    statement = re.sub(r"%s|\$\d+", "?", statement)
    return re.sub(r"\b(?:\d+(?:\.\d+)?|NULL|true|false)\b", "?", statement)
