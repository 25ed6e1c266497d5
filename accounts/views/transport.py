"""How the refresh token travels: in the JSON body (the default), or as a cookie for web front ends.

A request sending `X-Token-Transport: cookie` gets its refresh token as an `HttpOnly` cookie, which
page scripts cannot read (so an XSS cannot steal it), and `refresh` and `logout` then read it from
there. A browser sends cookies with any request to the API, even one a hostile page starts, so the
cookie is honoured only on requests that also carry that header, which no page can send
cross-origin unless CORS lets it (OWASP's custom-header defence against CSRF), and whose `Origin`,
if any, is the API's own or one of `CORS_ALLOWED_ORIGINS`. Everything else about tokens (rotation,
reuse detection, sessions) is the same in both modes.
"""

import time
from typing import Any

from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services, tokens

TRANSPORT_HEADER = "X-Token-Transport"
COOKIE_TRANSPORT = "cookie"
REFRESH_COOKIE = "refresh_token"
# Sent only to the endpoints that read it, never to the rest of the API.
REFRESH_COOKIE_PATH = "/api/v1/auth/"
ORIGIN_NOT_ALLOWED = "Cookie sessions are answered only for the API's own origin and CORS_ALLOWED_ORIGINS."


def wants_cookie(request: Request) -> bool:
    return request.headers.get(TRANSPORT_HEADER, "").strip().lower() == COOKIE_TRANSPORT


def check_cookie_origin(request: Request) -> None:
    """Refuse (403) a cookie-mode request from an origin that may not use the API with credentials.

    The API's own origin is the request's (scheme and host), or `PUBLIC_BASE_URL` when set.
    """
    origin = request.headers.get("Origin")
    if origin is None:  # not sent by a browser page on another origin
        return
    own = {f"{request.scheme}://{request.get_host()}", settings.PUBLIC_BASE_URL} - {""}
    if origin not in own and origin not in settings.CORS_ALLOWED_ORIGINS:
        raise PermissionDenied(ORIGIN_NOT_ALLOWED, code="origin_not_allowed")


def cookie_refresh_token(request: Request) -> str:
    """The refresh token of the cookie, for a request in cookie mode (its origin already checked)."""
    token = request.COOKIES.get(REFRESH_COOKIE, "")
    if not token:
        raise AuthenticationFailed(services.INVALID_REFRESH_TOKEN, code="token_not_valid")
    return token


def token_pair_response(request: Request, body: dict[str, Any]) -> Response:
    """The token answer: the pair in the body, or in cookie mode the refresh token as a cookie."""
    if not wants_cookie(request):
        return Response(body)
    body = dict(body)
    refresh_token = body.pop("refresh_token")
    response = Response(body)
    expires = tokens.decode_refresh_token(refresh_token)["exp"]
    response.set_cookie(
        REFRESH_COOKIE,
        refresh_token,
        max_age=max(0, int(expires - time.time())),
        path=REFRESH_COOKIE_PATH,
        secure=settings.REFRESH_COOKIE_SECURE,
        httponly=True,
        samesite=settings.REFRESH_COOKIE_SAMESITE,
    )
    return response


def clear_refresh_cookie(response: Response) -> Response:
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH, samesite=settings.REFRESH_COOKIE_SAMESITE)
    return response
