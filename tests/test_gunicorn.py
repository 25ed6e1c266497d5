"""gunicorn itself, started with `config/gunicorn.py`: what it answers before the app sees a request."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBLEM_JSON = "application/problem+json"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(port: int, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {server.stdout.read().decode() if server.stdout else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn not listening on {port} after {timeout} s")


@contextmanager
def gunicorn(home: Path, **extra: str) -> Iterator[int]:
    """gunicorn with `config/gunicorn.py` and the test settings on a free port, one worker; `home` is
    its HOME (where gunicorn's control socket would go by default)."""
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "WEB_CONCURRENCY": "1",
        **extra,
    }
    server = subprocess.Popen(  # noqa: S603 (our own interpreter's gunicorn and config)
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "-b", f"127.0.0.1:{port}", "config.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_listening(port, server)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


# Both worker classes config/gunicorn.py picks: sync (the default) and gthread (GUNICORN_THREADS > 1).
@pytest.fixture(scope="module", params=["1", "2"], ids=["sync", "gthread"])
def gunicorn_port(request: pytest.FixtureRequest, home: Path) -> Iterator[int]:
    with gunicorn(home, GUNICORN_THREADS=request.param) as port:
        yield port


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` as it is and read the answer to the end: status, headers (lower-cased names), body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(raw)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_raw_problem(answer: tuple[int, dict[str, str], bytes], status: int, code: str) -> dict[str, Any]:
    got_status, headers, body = answer
    assert got_status == status, body
    assert headers["content-type"] == PROBLEM_JSON
    assert int(headers["content-length"]) == len(body)
    problem: dict[str, Any] = json.loads(body)
    assert set(problem) == {"type", "title", "status", "detail", "code"}
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["type"] == f"/api/problems/{code}"
    assert problem["title"]
    assert problem["detail"]
    return problem


def test_a_request_line_over_gunicorn_s_limit_is_a_414_problem(gunicorn_port: int) -> None:
    raw = b"GET /api/v1/tasks/?search=" + b"x" * 5000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
    problem = assert_raw_problem(exchange(gunicorn_port, raw), 414, "uri_too_long")
    assert "4094 bytes" in problem["detail"]


def test_a_header_over_gunicorn_s_limit_is_a_431_problem(gunicorn_port: int) -> None:
    raw = b"GET /api/v1/tasks/ HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n"
    assert_raw_problem(exchange(gunicorn_port, raw), 431, "headers_too_large")


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"NOT AN HTTP REQUEST LINE\r\n\r\n", 400, "bad_request"),
        (b"GET /api/v1/tasks/ HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n", 400, "bad_request"),
        (b"POST /api/v1/tasks/ HTTP/1.1\r\nHost: localhost\r\nExpect: something\r\n\r\n", 417, "expectation_failed"),
        (
            b"POST /api/v1/tasks/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: br, chunked\r\n\r\n",
            501,
            "not_implemented",
        ),
    ],
    ids=["request-line", "header-name", "expect", "transfer-coding"],
)
def test_other_requests_gunicorn_refuses_are_problems(gunicorn_port: int, raw: bytes, status: int, code: str) -> None:
    assert_raw_problem(exchange(gunicorn_port, raw), status, code)


def test_a_well_formed_request_still_reaches_the_app(gunicorn_port: int) -> None:
    status, headers, _ = exchange(
        gunicorn_port, b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    assert status == 200
    assert headers["content-type"] == "application/json"


def test_no_control_socket_unless_asked(gunicorn_port: int, home: Path) -> None:
    """gunicorn's default, one socket per home directory, would be shared by every master its user starts."""
    assert not (home / ".gunicorn").exists()


def test_the_control_socket_is_where_gunicorn_control_socket_says(tmp_path: Path) -> None:
    path = tmp_path / "api.ctl"
    with gunicorn(tmp_path, GUNICORN_CONTROL_SOCKET=str(path)):
        deadline = time.monotonic() + 10
        while not path.is_socket() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert path.is_socket()
    assert not (tmp_path / ".gunicorn").exists()


@pytest.mark.parametrize(
    ("extra", "worker", "threads"),
    [
        ({}, "ProblemSyncWorker", 1),
        ({"GUNICORN_THREADS": "3"}, "ProblemThreadWorker", 3),
        ({"GUNICORN_CERTFILE": "/tls/cert.pem"}, "ProblemThreadWorker", 4),
        ({"GUNICORN_CERTFILE": "/tls/cert.pem", "GUNICORN_THREADS": "1"}, "ProblemSyncWorker", 1),
    ],
    ids=["plain-http", "threads-asked", "own-tls", "own-tls-sync-asked"],
)
def test_gunicorn_serving_tls_itself_defaults_to_threads(extra: dict[str, str], worker: str, threads: int) -> None:
    """Facing clients itself, a sync worker is held by every idle connection until the worker timeout."""
    code = "import runpy; c = runpy.run_path('config/gunicorn.py'); print(c['worker_class'], c['threads'])"
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=extra, capture_output=True, text=True, check=False
    )
    assert result.stdout.split() == [f"config.gunicorn_workers.{worker}", str(threads)], result.stderr
