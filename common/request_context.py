"""Who is asking, for every log line: a request id and the client's address; and a line per request.

The request id is the caller's `X-Request-ID` when it is sane, a new one otherwise; it is returned
in the response's `X-Request-ID` header. Both values are kept for the duration of the request and
added to every log record written meanwhile, so one request's lines can be found together and
security events name the address they came from. When the response is ready, one line on the
`requests` logger gives its method, path, status, duration and user.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

from common.client import client_address

HEADER = "X-Request-ID"
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_client_ip: ContextVar[str | None] = ContextVar("client_ip", default=None)
access_logger = logging.getLogger("requests")


def current_request_id() -> str | None:
    return _request_id.get()


def current_client_ip() -> str | None:
    return _client_ip.get()


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if _ACCEPTED.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        id_token = _request_id.set(request_id)
        ip_token = _client_ip.set(client_address(request))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            _log_request(request, response, started)
        finally:
            _request_id.reset(id_token)
            _client_ip.reset(ip_token)
        return response


def _log_request(request: HttpRequest, response: HttpResponse, started: float) -> None:
    user = getattr(request, "user", None)
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    access_logger.info(
        "%s %s %s %sms",
        request.method,
        request.path,
        response.status_code,
        duration_ms,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": user.pk if user is not None and user.is_authenticated else None,
        },
    )


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `client_ip` to every log record, for the formatters to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        if not hasattr(record, "client_ip"):
            record.client_ip = current_client_ip()
        return True
