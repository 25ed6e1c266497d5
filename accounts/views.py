"""HTTP endpoints for logging in, tokens, the caller's own account, and admin user management."""

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services, tokens
from accounts.filters import UserFilter
from accounts.models import User
from accounts.permissions import IsAdminRole
from accounts.serializers import (
    LoginSerializer,
    PasswordChangeSerializer,
    ProfileUpdateSerializer,
    RefreshTokenSerializer,
    TokenPairSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from common.filters import StableOrderingFilter
from common.openapi import ErrorSerializer

INVALID_CREDENTIALS = "Incorrect email or password."
INVALID_REFRESH_TOKEN = "The refresh token is invalid, expired or revoked."


class TokenEndpoint(APIView):
    """Base for endpoints that take credentials or a refresh token in the body, not a bearer token.

    They ignore any `Authorization` header, and their 401s still carry `WWW-Authenticate`.
    """

    authentication_classes = ()
    permission_classes = (AllowAny,)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    @staticmethod
    def token_response(pair: tokens.TokenPair) -> Response:
        return Response(TokenPairSerializer(pair).data)


class LoginView(TokenEndpoint):
    """Log in with the account's email (as `username`, or `email`) and password.

    Accepts the earlier template's form-encoded OAuth2 password form as well as JSON. A wrong
    password, an unknown email and an inactive account all get the same 401.
    """

    @extend_schema(
        tags=["auth"],
        summary="Log in with email and password",
        request=LoginSerializer,
        responses={200: TokenPairSerializer, 401: OpenApiResponse(ErrorSerializer, description=INVALID_CREDENTIALS)},
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            pair = services.auth_login(**serializer.validated_data)
        except services.InvalidCredentialsError as exc:
            raise AuthenticationFailed(INVALID_CREDENTIALS, code="invalid_credentials") from exc
        return self.token_response(pair)


class RefreshView(TokenEndpoint):
    """Trade a refresh token for a new pair. The presented refresh token is refused from then on."""

    @extend_schema(
        tags=["auth"],
        summary="Trade a refresh token for a new token pair",
        request=RefreshTokenSerializer,
        responses={200: TokenPairSerializer, 401: OpenApiResponse(ErrorSerializer, description=INVALID_REFRESH_TOKEN)},
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            pair = tokens.rotate_refresh_token(serializer.validated_data["refresh_token"])
        except tokens.InvalidTokenError as exc:
            raise AuthenticationFailed(INVALID_REFRESH_TOKEN, code="token_not_valid") from exc
        return self.token_response(pair)


class LogoutView(TokenEndpoint):
    """Revoke a refresh token. No access token is needed: the refresh token proves the session."""

    @extend_schema(
        tags=["auth"],
        summary="Revoke a refresh token",
        request=RefreshTokenSerializer,
        responses={204: None, 401: OpenApiResponse(ErrorSerializer, description=INVALID_REFRESH_TOKEN)},
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            tokens.revoke_refresh_token(serializer.validated_data["refresh_token"])
        except tokens.InvalidTokenError as exc:
            raise AuthenticationFailed(INVALID_REFRESH_TOKEN, code="token_not_valid") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The caller's own account."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(tags=["users"], summary="The caller's account", responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        tags=["users"],
        summary="Change the caller's own name",
        request=ProfileUpdateSerializer,
        responses={200: UserSerializer},
    )
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(user=request.user, **serializer.validated_data)  # type: ignore[arg-type]
        return Response(UserSerializer(user).data)


class MePasswordView(APIView):
    """Change the caller's password; every access and refresh token issued before is refused."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=["users"],
        summary="Change the caller's password; every earlier token is revoked",
        request=PasswordChangeSerializer,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_change_password(user=request.user, **serializer.validated_data)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List users"),
    create=extend_schema(summary="Create a user", request=UserCreateSerializer, responses={201: UserSerializer}),
    retrieve=extend_schema(summary="Get a user"),
    partial_update=extend_schema(
        summary="Change a user", request=UserUpdateSerializer, responses={200: UserSerializer}
    ),
    destroy=extend_schema(summary="Deactivate a user (nothing is deleted)", responses={204: None}),
)
@extend_schema(tags=["users"])
class UserViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """User management for admins. Users are deactivated, never deleted."""

    permission_classes = (IsAuthenticated, IsAdminRole)
    serializer_class = UserSerializer
    queryset = User.objects.all()
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    filter_backends = (DjangoFilterBackend, StableOrderingFilter)
    filterset_class = UserFilter
    ordering_fields = ("id", "email", "full_name", "role", "date_joined", "last_login")
    ordering = ("id",)

    def get_queryset(self) -> QuerySet[User]:
        return User.objects.all()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_create(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = UserUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(user=self.get_object(), **serializer.validated_data)
        return Response(UserSerializer(user).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.user_deactivate(user=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
