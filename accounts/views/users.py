"""HTTP endpoints for the caller's own account and for admin user management."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services
from accounts.filters import UserFilter
from accounts.models import User
from accounts.permissions import IsAdminRole
from accounts.serializers import (
    AccountDeleteSerializer,
    PasswordChangeSerializer,
    ProfileUpdateSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from accounts.views.base import AccountsAPIView
from common.client import client_of
from common.filters import QueryParamFilterBackend, StableOrderingFilter
from common.idempotency import idempotent
from common.openapi import ErrorSerializer, ValidationErrorSerializer

LAST_ADMIN = "The last active admin cannot be deactivated."


class MeView(AccountsAPIView):
    """The caller's own account."""

    permission_classes = (IsAuthenticated,)
    delete_takes_body = True  # the password, to delete the account (see common.openapi)

    @extend_schema(tags=["users"], summary="The caller's account", responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        tags=["users"],
        summary="Change the caller's name, or ask to change their email (a link is mailed to the new address)",
        request=ProfileUpdateSerializer,
        responses={200: UserSerializer},
    )
    def patch(self, request: Request) -> Response:
        serializer = ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, **serializer.validated_data)  # type: ignore[arg-type]
        return Response(UserSerializer(user).data)

    @extend_schema(
        tags=["users"],
        summary="Delete the caller's account: deactivated now, erased after the grace period",
        request=AccountDeleteSerializer,
        responses={
            204: None,
            400: OpenApiResponse(ValidationErrorSerializer, description="Wrong password, or the last active admin."),
            429: OpenApiResponse(
                ErrorSerializer, description="Too many wrong passwords; retry after `Retry-After` seconds."
            ),
        },
    )
    def delete(self, request: Request) -> Response:
        serializer = AccountDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_delete_self(
            user=request.user,  # type: ignore[arg-type]
            client=client_of(request),
            **serializer.validated_data,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MePasswordView(AccountsAPIView):
    """Change the caller's password; every access and refresh token issued before is refused.

    A wrong current password counts as a failed login of the account: past the login limits, 429.
    """

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=["users"],
        summary="Change the caller's password; every earlier token is revoked",
        request=PasswordChangeSerializer,
        responses={
            204: None,
            429: OpenApiResponse(
                ErrorSerializer, description="Too many wrong current passwords; retry after `Retry-After` seconds."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_change_password(
            user=request.user,  # type: ignore[arg-type]
            client=client_of(request),
            **serializer.validated_data,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List users"),
    create=extend_schema(summary="Create a user", request=UserCreateSerializer, responses={201: UserSerializer}),
    retrieve=extend_schema(summary="Get a user"),
    partial_update=extend_schema(
        summary="Change a user", request=UserUpdateSerializer, responses={200: UserSerializer}
    ),
    destroy=extend_schema(
        summary="Deactivate a user (nothing is deleted)",
        responses={204: None, 400: OpenApiResponse(ValidationErrorSerializer, description=LAST_ADMIN)},
    ),
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
    filter_backends = (QueryParamFilterBackend, StableOrderingFilter)
    filterset_class = UserFilter
    ordering_fields = ("id", "email", "full_name", "role", "date_joined", "last_login")
    ordering = ("id",)
    # `?cursor=` pages in the same order as `?page=`: the id is unique and indexed.
    cursor_ordering = ("id",)

    def get_queryset(self) -> QuerySet[User]:
        return User.objects.all()

    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_create(**serializer.validated_data, welcome=True)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = UserUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(user=self.get_object(), by=request.user, **serializer.validated_data)  # type: ignore[arg-type]
        return Response(UserSerializer(user).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.user_deactivate(user=self.get_object(), by=request.user)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)
