"""HTTP endpoints for sessions: log in, refresh, log out, the session list, and password reset.

Each view parses the request, calls one service with what the client sent, and answers; the
services decode tokens, count attempts and revoke (see `accounts.services`).
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services, tokens
from accounts.models import RefreshTokenFamily
from accounts.serializers import (
    LoginFormSerializer,
    LoginSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
    RefreshTokenSerializer,
    SessionSerializer,
    TokenPairSerializer,
)
from accounts.views import transport
from accounts.views.base import AccountsAPIView, accepted, accepted_response, validated
from common.client import client_of
from common.openapi import ErrorSerializer
from common.parsers import StrictJSONParser
from common.throttling import AddressRateThrottle

PASSWORD_RESET_ACCEPTED = "If an active account has this email, a reset link has been sent to it."

_invalid_refresh = OpenApiResponse(ErrorSerializer, description=services.INVALID_REFRESH_TOKEN)
throttled_response = OpenApiResponse(
    ErrorSerializer, description="Too many requests; retry after `Retry-After` seconds."
)
_cookie_origin = OpenApiResponse(
    ErrorSerializer,
    description="`X-Token-Transport: cookie` from an origin neither the API's nor allowed (`origin_not_allowed`).",
)


class TokenEndpoint(AccountsAPIView):
    """Base for endpoints that take credentials or a refresh token, not a bearer token.

    They ignore any `Authorization` header, and their 401s still carry `WWW-Authenticate`. The
    refresh token travels in the body, or as a cookie with `X-Token-Transport: cookie` (see
    `accounts.views.transport`).
    """

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Before any work: a refused origin must not even log in or end a session.
        if transport.wants_cookie(request):
            transport.check_cookie_origin(request)

    @staticmethod
    def token_response(request: Request, pair: tokens.TokenPair) -> Response:
        return transport.token_pair_response(request, TokenPairSerializer(pair).data)

    @staticmethod
    def raw_refresh_token(request: Request) -> str:
        """The refresh token of the body or, when the body has none, of the cookie in cookie mode."""
        data = request.data
        if transport.wants_cookie(request) and not (isinstance(data, dict) and "refresh_token" in data):
            return transport.cookie_refresh_token(request)
        return str(validated(RefreshTokenSerializer, request)["refresh_token"])


class LoginView(TokenEndpoint):
    """Log in with the account's email (as `username`, or `email`) and password.

    Accepts the earlier template's form-encoded OAuth2 password form as well as JSON. A wrong
    password, an unknown email and an inactive account all get the same 401. Failed attempts are
    limited per account and client address, and per client address.
    """

    parser_classes = (StrictJSONParser, FormParser)

    @extend_schema(
        tags=["auth"],
        summary="Log in with email and password",
        # Two names for one body, so that generated clients can tell which encoding to send.
        request={"application/json": LoginSerializer, "application/x-www-form-urlencoded": LoginFormSerializer},
        responses={
            200: TokenPairSerializer,
            401: OpenApiResponse(ErrorSerializer, description=services.INVALID_CREDENTIALS),
            403: OpenApiResponse(
                ErrorSerializer,
                description="The password is right but the email is not verified yet (`email_not_verified`); "
                "or a cookie-mode login from an origin that is not allowed (`origin_not_allowed`).",
            ),
            429: throttled_response,
        },
    )
    def post(self, request: Request) -> Response:
        pair = services.auth_login(**validated(LoginSerializer, request), client=client_of(request))
        return self.token_response(request, pair)


class RefreshView(TokenEndpoint):
    """Trade a refresh token for a new pair in the same session.

    The presented refresh token is refused from then on. Presenting it again is taken as theft:
    the whole session is revoked, its newest refresh token included. A session ends
    `REFRESH_SESSION_MAX_DAYS` after its login, however often it is refreshed.
    """

    @extend_schema(
        tags=["auth"],
        summary="Trade a refresh token for a new token pair",
        request=RefreshTokenSerializer,
        responses={200: TokenPairSerializer, 401: _invalid_refresh, 403: _cookie_origin, 429: throttled_response},
    )
    def post(self, request: Request) -> Response:
        pair = services.auth_refresh(refresh_token=self.raw_refresh_token(request), client=client_of(request))
        return self.token_response(request, pair)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        # A refused cookie is of no further use: the browser drops it.
        if response.status_code == status.HTTP_401_UNAUTHORIZED and transport.wants_cookie(request):
            transport.clear_refresh_cookie(response)
        return super().finalize_response(request, response, *args, **kwargs)


class LogoutView(TokenEndpoint):
    """End the session a refresh token belongs to, its access tokens included. No access token is needed.

    An already-rotated refresh token is reuse, as for a refresh: the session is revoked and 401 answered.
    """

    @extend_schema(
        tags=["auth"],
        summary="End the session of a refresh token",
        request=RefreshTokenSerializer,
        responses={204: None, 401: _invalid_refresh, 403: _cookie_origin},
    )
    def post(self, request: Request) -> Response:
        services.auth_logout(refresh_token=self.raw_refresh_token(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        return super().finalize_response(request, transport.clear_refresh_cookie(response), *args, **kwargs)


class LogoutAllView(AccountsAPIView):
    """End every session of the caller: all their refresh and access tokens are refused at once."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(tags=["auth"], summary="End every session of the caller", request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.auth_logout_all(user=request.user)  # type: ignore[arg-type]
        return transport.clear_refresh_cookie(Response(status=status.HTTP_204_NO_CONTENT))


class CallerSessionsMixin:
    """The caller's live sessions, newest first; `current` marks the one of the presented token."""

    request: Request
    serializer_class = SessionSerializer
    permission_classes = (IsAuthenticated,)

    def get_queryset(self) -> QuerySet[RefreshTokenFamily]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no caller
            return RefreshTokenFamily.objects.none()
        return RefreshTokenFamily.objects.of(self.request.user).live().newest_first()  # type: ignore[arg-type]

    def get_serializer_context(self) -> dict[str, Any]:
        token: Any = self.request.auth
        return {"current_session_id": token.get(tokens.SESSION_CLAIM) if token is not None else None}


@extend_schema_view(get=extend_schema(tags=["auth"], summary="The caller's live sessions, newest first"))
class SessionListView(CallerSessionsMixin, generics.ListAPIView):  # type: ignore[misc]
    pass


@extend_schema_view(
    delete=extend_schema(
        tags=["auth"],
        summary="End one of the caller's sessions",
        responses={204: None, 404: OpenApiResponse(ErrorSerializer, description="No live session of the caller.")},
    )
)
class SessionDetailView(CallerSessionsMixin, generics.DestroyAPIView):  # type: ignore[misc]
    """End a session: its refresh and access tokens are refused at once. Another user's is 404."""

    def perform_destroy(self, instance: RefreshTokenFamily) -> None:
        services.session_end(session=instance)


class PasswordResetView(TokenEndpoint):
    """Ask for a password-reset link by email. The answer is the same whether or not the account
    exists, and whether or not a limit was reached (except the per-address one, which is 429)."""

    throttle_classes = (AddressRateThrottle,)
    throttle_scope = "password_reset"

    @extend_schema(
        tags=["auth"],
        summary="Email a password-reset link",
        request=PasswordResetRequestSerializer,
        responses={202: accepted_response, 429: throttled_response},
    )
    def post(self, request: Request) -> Response:
        services.password_reset_request(email=validated(PasswordResetRequestSerializer, request)["email"])
        return accepted(PASSWORD_RESET_ACCEPTED)


class PasswordResetConfirmView(TokenEndpoint):
    """Set a new password with the `uid` and `token` of a reset link. Every session is ended."""

    @extend_schema(
        tags=["auth"],
        summary="Set a new password from a reset link",
        request=PasswordResetConfirmSerializer,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        services.password_reset_confirm(**validated(PasswordResetConfirmSerializer, request))
        return Response(status=status.HTTP_204_NO_CONTENT)
