"""Every JSON error of the API, built in one place as an RFC 9457 problem detail.

An error answers `Content-Type: application/problem+json` with
`{"type": "/api/problems/<code>", "title": ..., "status": ..., "detail": "<message>", "code": "<code>"}`;
validation errors add `"errors": {"<field>": ["<message>", ...]}` so that each failing field is named.
`type` is stable per `code` and documents it (`GET /api/problems/<code>`); `detail` and `code` are
what clients read before problem details existed, and stay.

Whoever answers an error (DRF's exception handler, the middleware, Django's error handlers)
turns what was raised into an `APIException` with `as_api_exception` and answers
`problem_response`: one mapping, one shape (`common.problem_types`), one place deciding that an
unreachable database is a 503.
"""

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from psycopg import errors as pg_errors
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from common.problem_types import PROBLEM_CONTENT_TYPE, PROBLEM_TYPES, problem

logger = logging.getLogger("common.errors")

# The messages of the API's own errors (their `detail`, unless the raise gives another).
_RETRY_SHORTLY = "The service is temporarily unavailable; retry shortly."
_CHANGED_SINCE = "The resource changed since the version named in If-Match; fetch it again."
_SEND_IF_MATCH = "Send If-Match with the ETag of the version you are changing."


class Problem(exceptions.APIException):
    """An error of the API's own (DRF's have their classes), its status, code and message declared in
    one line: `class PayloadTooLarge(Problem, status=413, code="payload_too_large", detail="...")`.
    Its code must have a problem type (`PROBLEM_TYPES`), so that its `type` URI documents it."""

    def __init_subclass__(cls, *, status: int, code: str, detail: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code not in PROBLEM_TYPES:
            raise TypeError(f"{cls.__name__}: add {code!r} to PROBLEM_TYPES")
        cls.status_code, cls.default_code, cls.default_detail = status, code, detail


class DatabaseUnavailable(Problem, status=503, code="service_unavailable", detail=_RETRY_SHORTLY):
    """The database cannot be reached (or is refusing work) right now: worth retrying shortly."""

    retry_after_seconds = 5


class PayloadTooLarge(Problem, status=413, code="payload_too_large", detail="Request body is too large."):
    """A body over `DATA_UPLOAD_MAX_MEMORY_SIZE`, refused before it is parsed."""


class BadRequest(Problem, status=400, code="bad_request", detail="Bad request."):
    """A request Django refused before any view saw it (a bad Host header, say)."""


class PreconditionFailed(Problem, status=412, code="precondition_failed", detail=_CHANGED_SINCE):
    """A write whose `If-Match` names a version that is no longer current."""


class PreconditionRequired(Problem, status=428, code="precondition_required", detail=_SEND_IF_MATCH):
    """A write without `If-Match` while `REQUIRE_IF_MATCH` is on."""


class ServerError(Problem, status=500, code="server_error", detail="Internal server error."):
    """An error the API did not expect: logged, answered without its details."""


def as_api_exception(exc: Exception) -> exceptions.APIException | None:
    """What `exc` means to a client, or `None` for an error the API does not expect (a 500)."""
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, Http404):
        # Django's message names the model ("No Task matches..."); the client needs less.
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(detail=as_serializer_error(exc))
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if reason := database_unavailable_reason(exc):
        logger.warning("Database unavailable (%s): %s", reason, exc)
        return DatabaseUnavailable()
    return None


def problem_body(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        detail, code = f"Invalid input: {', '.join(errors)}.", "invalid"
    else:
        detail, code = _message_and_code(exc.detail, exc.get_codes())
        errors = None
    body = problem(status=exc.status_code, code=code, detail=detail)
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(exc: exceptions.APIException) -> Response:
    """The answer to `exc`, already rendered: usable from a DRF view, a middleware or a Django view."""
    headers = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(math.ceil(wait))
    if isinstance(exc, DatabaseUnavailable):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    response = Response(problem_body(exc), status=exc.status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    # Imported here: the renderers module imports DRF's settings, which load this module.
    from common.renderers import FastJSONRenderer

    response.accepted_renderer = FastJSONRenderer()
    response.accepted_media_type = PROBLEM_CONTENT_TYPE
    response.renderer_context = {}  # type: ignore[attr-defined]
    return response.render()


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler: anything it returns `None` for is left to `JSONErrorsForAPIMiddleware`."""
    api_exception = as_api_exception(exc)
    if api_exception is None:
        return None
    from rest_framework.views import set_rollback  # imported late for the same reason as above

    set_rollback()
    return problem_response(api_exception)


def database_unavailable_reason(exc: BaseException | None) -> str | None:
    """Why the database could not do a request's work, when that is worth retrying shortly (a 503).

    The database unreachable or refusing connections, or a statement stopped by PostgreSQL's
    `lock_timeout` or `statement_timeout` (its transaction is rolled back, nothing is half-written).
    None for any other error.
    """
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    if isinstance(exc.__cause__, pg_errors.LockNotAvailable):
        return "lock timeout"
    if isinstance(exc.__cause__, pg_errors.QueryCanceled):
        return "statement timeout"
    return "unreachable"


def _message_and_code(detail: Any, codes: Any) -> tuple[str, str]:
    if isinstance(detail, dict):
        message = detail.get("detail", "Request failed.")
        code = codes.get("detail", codes.get("code")) if isinstance(codes, dict) else codes
    elif isinstance(detail, list):
        message = " ".join(str(item) for item in detail)
        code = codes[0] if isinstance(codes, list) and codes else codes
    else:
        message, code = detail, codes
    return str(message), str(code or "error")
