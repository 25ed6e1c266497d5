"""gunicorn settings: `gunicorn -c config/gunicorn.py config.wsgi`. Each can be set from the environment."""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = f"0.0.0.0:{_int('PORT', 8001)}"
# Two workers per core, plus one: the usual starting point for a synchronous Django app.
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
# HTTPS served by gunicorn itself, when no proxy terminates TLS in front of it.
certfile = os.environ.get("GUNICORN_CERTFILE") or None
keyfile = os.environ.get("GUNICORN_KEYFILE") or None
# A sync worker is held by each connection it accepts until a request arrives, and only the worker
# timeout frees it: facing clients itself (its own TLS, above), two idle connections stalled all of a
# 2-worker server for 31 s. gthread waits at most 5 s per connection for its first bytes, then lets
# the thread go; so with a certificate and no GUNICORN_THREADS it is 4 threads: 2 idle connections
# cost nothing, 8 about 4 s (docs/deployment.md). Behind a proxy (which buffers) sync stays the default.
threads = _int("GUNICORN_THREADS", 4 if certfile else 1)
# gunicorn's sync and gthread workers, answering the requests gunicorn refuses before the app (a
# request line or header over its limits, a malformed line) as problem details, not HTML pages.
worker_class = f"config.gunicorn_workers.{'ProblemThreadWorker' if threads > 1 else 'ProblemSyncWorker'}"
# A request taking longer than this is killed; graceful_timeout is how long a stopping worker may
# finish the requests it has.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then, at staggered moments, so a slow leak never grows unbounded.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# Load the app before forking: workers share its memory and a broken app fails at startup.
preload_app = True
# Logs to stdout/stderr for the container runtime. The app logs one line per request already
# (`common.request_context`, with the user and request id), so gunicorn's own access log is off unless
# GUNICORN_ACCESS_LOG names a file ("-" for stdout), then one JSON object per line.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, '
    '"bytes": "%(B)s", "duration_ms": %(M)s, "request_id": "%({x-request-id}o)s", "agent": "%(a)s"}'
)
# The proxy in front sets X-Forwarded-Proto; which addresses may set it is up to the deployment.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket (for `gunicornc`: worker counts, reloads, shutdown) defaults to one path
# per home directory (~/.gunicorn/gunicorn.ctl), shared by every master its user starts: the last one
# started takes it, and gunicornc talks to the wrong server. Nothing here uses it and it can stop the
# server, so it is off unless GUNICORN_CONTROL_SOCKET names this instance's own path.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]


def child_exit(server: object, worker: object) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, drop a dead worker's live gauges from the metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
