import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from common.exceptions import BadRequest, PayloadTooLarge, ServerError, as_api_exception, problem_response

logger = logging.getLogger("common.errors")

API_PREFIX = "/api/"
API_V1_PREFIX = "/api/v1/"


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


class JSONErrorsForAPIMiddleware:
    """An unexpected error under `/api/` is logged and answered with JSON, never a traceback page.

    Django's own error handlers (see `common.views`) cover the cases this middleware does not see,
    such as a request refused before it reaches a view; they answer JSON for the API as well.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        api_exception = as_api_exception(exception)
        if api_exception is None:
            logger.exception("Unhandled error on %s %s", request.method, request.path)
            api_exception = ServerError()
        return problem_response(api_exception)


class NoStoreForAPIMiddleware:
    """Every answer under `/api/v1/` is `Cache-Control: no-store` (and `Pragma: no-cache`).

    They carry tokens (RFC 6749, section 5.1 requires this of token answers) or one user's data;
    no browser or proxy cache may keep them. The public schema and docs may be cached.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(API_V1_PREFIX) and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
            response["Pragma"] = "no-cache"
        return response


class BodySizeLimitMiddleware:
    """Refuses an API request whose declared body is over `DATA_UPLOAD_MAX_MEMORY_SIZE` with 413.

    Django checks the limit only where it parses a body itself; this covers every parser, file
    parts of multipart bodies included, before a byte of the body is read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and is_api_request(request):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return problem_response(BadRequest("Invalid Content-Length header."))
            if length > limit:
                return problem_response(PayloadTooLarge())
        return self.get_response(request)
