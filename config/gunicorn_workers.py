"""gunicorn's workers, answering the requests gunicorn refuses itself as the API's problem details.

A request line over `limit_request_line`, a header over `limit_request_field_size`, a line that is
not HTTP: gunicorn answers these before the app sees the request, with an HTML page of its own. The
API promises problem details everywhere, so these workers answer them with the same bodies
(`common.problem_types`), built without Django: the request never reached it. `config/gunicorn.py`
selects them; they differ from gunicorn's own only in `handle_error`.
"""

import json
import ssl
from http import HTTPStatus
from typing import Any

from gunicorn.http import errors
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from common.problem_types import PROBLEM_CONTENT_TYPE, problem

# What each refusal of gunicorn's means to a client: its status, problem code and detail (filled
# with the limits of `cfg` and gunicorn's message `exc`). First match wins, so the response-header
# errors (subclasses of the request-header ones) come first. Any other parse error is a 400, anything
# else (the app raised instead of answering) a 500: gunicorn's own statuses, bar a TLS failure (its
# 403), which is a malformed request here too.
_APP_FAULTS = (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName, errors.ConfigurationProblem)
_SERVER_ERROR = (500, "server_error", "Internal server error.")
_MALFORMED = "Malformed request: {exc}."  # gunicorn's message names what was malformed
_REFUSALS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int, str, str], ...] = (
    (_APP_FAULTS, *_SERVER_ERROR),
    (errors.LimitRequestLine, 414, "uri_too_long", "The request line is over {cfg.limit_request_line} bytes."),
    (
        errors.LimitRequestHeaders,
        431,
        "headers_too_large",
        "A header field is over {cfg.limit_request_field_size} bytes, "
        "or there are over {cfg.limit_request_fields} of them.",
    ),
    (errors.ExpectationFailed, 417, "expectation_failed", _MALFORMED),
    (errors.UnsupportedTransferCoding, 501, "not_implemented", _MALFORMED),
    (errors.ForbiddenProxyRequest, 403, "permission_denied", _MALFORMED),
    ((errors.ParseException, ssl.SSLError), 400, "bad_request", _MALFORMED),
)


def refusal(exc: BaseException, cfg: Any) -> tuple[int, str, str]:
    """The status, problem code and message answering `exc`, raised while gunicorn read a request."""
    matches = ((status, code, detail) for kind, status, code, detail in _REFUSALS if isinstance(exc, kind))
    status, code, detail = next(matches, _SERVER_ERROR)
    return status, code, detail.format(cfg=cfg, exc=exc)


def problem_answer(status: int, code: str, detail: str) -> bytes:
    """A whole HTTP/1.1 answer carrying the problem; the connection closes after it."""
    body = json.dumps(problem(status=status, code=code, detail=detail)).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class ProblemErrorsMixin:
    """Replaces gunicorn's `handle_error` (log, then write an HTML page) with log, then a problem."""

    log: Any
    cfg: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, code, detail = refusal(exc, self.cfg)
        if status == 500:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
        else:
            # As gunicorn logs it: a client's mistake, worth a warning, not a traceback.
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        try:
            write_nonblock(client, problem_answer(status, code, detail))
        except Exception:  # the client may be gone already: nothing more to tell it
            self.log.debug("Failed to send error message.")


class ProblemSyncWorker(ProblemErrorsMixin, SyncWorker):
    """gunicorn's sync worker (one request at a time), answering its refusals as problems."""


class ProblemThreadWorker(ProblemErrorsMixin, ThreadWorker):
    """gunicorn's gthread worker (a thread per request), answering its refusals as problems."""
