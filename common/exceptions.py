"""One JSON error shape for the whole API.

Every error answers `{"detail": "<message>", "code": "<machine code>"}`; validation errors add
`"errors": {"<field>": ["<message>", ...]}` so that each failing field is named.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from psycopg import errors as pg_errors
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = logging.getLogger(__name__)


class DatabaseUnavailable(exceptions.APIException):
    """The database cannot be reached (or is refusing work) right now: worth retrying shortly."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable; retry shortly."
    default_code = "service_unavailable"
    retry_after_seconds = 5


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, fed with the Django errors it does not know and shaped as described above.

    Anything still unhandled is left to `JSONErrorsForAPIMiddleware`, which logs it and answers 500.
    """
    if isinstance(exc, Http404):
        # Django's message names the model ("No Task matches..."); the client needs less.
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif reason := database_unavailable_reason(exc):
        logger.warning("Database unavailable (%s): %s", reason, exc)
        exc = DatabaseUnavailable()

    # Imported here: rest_framework.views loads the parsers named in settings, which import this module.
    from rest_framework.views import exception_handler

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(exc.detail)
    elif isinstance(exc, exceptions.APIException):
        response.data = error_body(exc.detail, exc.get_codes())
    if isinstance(exc, DatabaseUnavailable):
        response["Retry-After"] = str(exc.retry_after_seconds)
    return response


def database_unavailable_reason(exc: BaseException) -> str | None:
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


def error_body(detail: Any, codes: Any = None) -> dict[str, Any]:
    if isinstance(detail, dict):
        message = detail.get("detail", "Request failed.")
        code = codes.get("detail", codes.get("code")) if isinstance(codes, dict) else codes
    elif isinstance(detail, list):
        message = " ".join(str(item) for item in detail)
        code = codes[0] if isinstance(codes, list) and codes else codes
    else:
        message, code = detail, codes
    return {"detail": str(message), "code": str(code or "error")}


def validation_error_body(detail: Any) -> dict[str, Any]:
    errors = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    fields = ", ".join(errors)
    return {"detail": f"Invalid input: {fields}.", "code": "invalid", "errors": errors}
