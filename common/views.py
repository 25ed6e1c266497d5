"""Views every part of the API shares: JSON error handlers for Django, the API catch-all, problem types."""

import sys
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from common.exceptions import (
    BadRequest,
    DatabaseUnavailable,
    ServerError,
    database_unavailable_reason,
    problem_response,
)
from common.middleware import is_api_request
from common.problem_types import PROBLEM_TYPES, problem_type_uri


@csrf_exempt  # an unknown path is a 404 whatever the method; the CSRF check would answer 403 first
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return problem_response(exceptions.NotFound())


def problem_type(request: HttpRequest, code: str) -> HttpResponse:
    """What a problem `type` URI names: the title of the error code and what a client should do."""
    known = PROBLEM_TYPES.get(code)
    if known is None:
        raise Http404
    return JsonResponse(
        {"type": problem_type_uri(code), "code": code, "title": known.title, "description": known.description}
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return problem_response(BadRequest())
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return problem_response(exceptions.PermissionDenied())
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's last resort, for an error no view or middleware answered: the admin site's session
    saved after its view, say. An unreachable database is a 503 to retry shortly there too."""
    unavailable = database_unavailable_reason(sys.exception()) is not None  # raised while this runs
    if is_api_request(request):
        return problem_response(DatabaseUnavailable() if unavailable else ServerError())
    if unavailable:
        retry_after = str(DatabaseUnavailable.retry_after_seconds)
        page = "<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1><p>Retry shortly.</p>"
        return HttpResponse(page, status=503, headers={"Retry-After": retry_after})
    return defaults.server_error(request)
