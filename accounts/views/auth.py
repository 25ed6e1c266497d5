"""HTTP endpoints for sessions: log in, refresh, log out, and password reset."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services, tokens
from accounts.events import Event, security_event
from accounts.models import User
from accounts.serializers import (
    LoginFormSerializer,
    LoginSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
    RefreshTokenSerializer,
    TokenPairSerializer,
)
from accounts.throttling import LoginFailureThrottle, refresh_retry_after
from common.client import client_address
from common.openapi import ErrorSerializer
from common.parsers import StrictJSONParser
from common.throttling import AddressRateThrottle

INVALID_CREDENTIALS = "Incorrect email or password."
INVALID_REFRESH_TOKEN = "The refresh token is invalid, expired or revoked."
EMAIL_NOT_VERIFIED = "Verify your email first: follow the link mailed to you, or ask for a new one."
PASSWORD_RESET_ACCEPTED = "If an active account has this email, a reset link has been sent to it."

_invalid_refresh = OpenApiResponse(ErrorSerializer, description=INVALID_REFRESH_TOKEN)
throttled_response = OpenApiResponse(
    ErrorSerializer, description="Too many requests; retry after `Retry-After` seconds."
)


class TokenEndpoint(APIView):
    """Base for endpoints that take credentials or a refresh token in the body, not a bearer token.

    They ignore any `Authorization` header, and their 401s still carry `WWW-Authenticate`.
    """

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    @staticmethod
    def token_response(request: Request, pair: tokens.TokenPair) -> Response:
        return Response(TokenPairSerializer(pair).data)

    @staticmethod
    def decode_refresh(data: Any) -> Any:
        serializer = RefreshTokenSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        try:
            return tokens.decode_refresh_token(serializer.validated_data["refresh_token"])
        except tokens.InvalidTokenError as exc:
            raise AuthenticationFailed(INVALID_REFRESH_TOKEN, code="token_not_valid") from exc


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
            401: OpenApiResponse(ErrorSerializer, description=INVALID_CREDENTIALS),
            403: OpenApiResponse(
                ErrorSerializer,
                description="The password is right but the email is not verified yet (`email_not_verified`).",
            ),
            429: throttled_response,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = User.objects.normalize_email(serializer.validated_data["email"])
        failures = LoginFailureThrottle(email=email, address=client_address(request))
        wait = failures.attempt()
        if wait is not None:
            security_event(Event.LOGIN_THROTTLED, user_id=None)
            raise Throttled(wait=wait)
        try:
            pair = services.auth_login(email=email, password=serializer.validated_data["password"])
        except services.InvalidCredentialsError as exc:
            raise AuthenticationFailed(INVALID_CREDENTIALS, code="invalid_credentials") from exc
        except services.EmailNotVerifiedError as exc:
            failures.succeeded()  # the password was right
            raise PermissionDenied(EMAIL_NOT_VERIFIED, code="email_not_verified") from exc
        failures.succeeded()
        return self.token_response(request, pair)


class RefreshView(TokenEndpoint):
    """Trade a refresh token for a new pair in the same session.

    The presented refresh token is refused from then on. Presenting it again is taken as theft:
    the whole session is revoked, its newest refresh token included.
    """

    @extend_schema(
        tags=["auth"],
        summary="Trade a refresh token for a new token pair",
        request=RefreshTokenSerializer,
        responses={200: TokenPairSerializer, 401: _invalid_refresh, 429: throttled_response},
    )
    def post(self, request: Request) -> Response:
        refresh = self.decode_refresh(request.data)
        wait = refresh_retry_after(refresh.get("user_id"))
        if wait is not None:
            raise Throttled(wait=wait)
        try:
            pair = services.auth_refresh(refresh=refresh)
        except tokens.InvalidTokenError as exc:
            raise AuthenticationFailed(INVALID_REFRESH_TOKEN, code="token_not_valid") from exc
        return self.token_response(request, pair)


class LogoutView(TokenEndpoint):
    """End the session a refresh token belongs to. No access token is needed."""

    @extend_schema(
        tags=["auth"],
        summary="End the session of a refresh token",
        request=RefreshTokenSerializer,
        responses={204: None, 401: _invalid_refresh},
    )
    def post(self, request: Request) -> Response:
        refresh = self.decode_refresh(request.data)
        try:
            services.auth_logout(refresh=refresh)
        except tokens.InvalidTokenError as exc:
            raise AuthenticationFailed(INVALID_REFRESH_TOKEN, code="token_not_valid") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    """End every session of the caller: all their refresh tokens are refused from then on."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(tags=["auth"], summary="End every session of the caller", request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.auth_logout_all(user=request.user)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(TokenEndpoint):
    """Ask for a password-reset link by email. The answer is the same whether or not the account exists."""

    throttle_classes = (AddressRateThrottle,)
    throttle_scope = "password_reset"

    @extend_schema(
        tags=["auth"],
        summary="Email a password-reset link",
        request=PasswordResetRequestSerializer,
        responses={202: OpenApiResponse(ErrorSerializer, description=PASSWORD_RESET_ACCEPTED), 429: throttled_response},
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(email=serializer.validated_data["email"])
        return Response({"detail": PASSWORD_RESET_ACCEPTED, "code": "accepted"}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(TokenEndpoint):
    """Set a new password with the `uid` and `token` of a reset link. Every session is ended."""

    @extend_schema(
        tags=["auth"],
        summary="Set a new password from a reset link",
        request=PasswordResetConfirmSerializer,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_confirm(**serializer.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
