"""HTTP endpoints for the caller's own account and for admin user management."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services
from accounts.filters import UserFilter
from accounts.models import User
from accounts.serializers import (
    AccountDeleteSerializer,
    PasswordChangeSerializer,
    ProfileUpdateSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from accounts.views.base import AccountsAPIView, validated
from common.client import client_of
from common.filters import QueryParamFilterBackend, StableOrderingFilter
from common.idempotency import idempotent
from common.openapi import ErrorSerializer, ValidationErrorSerializer

LAST_ADMIN = "The last active admin cannot be deactivated."

# A wrong password (to delete the account, or to change it) counts as a failed login of the account.
_too_many_wrong_passwords = OpenApiResponse(
    ErrorSerializer, description="Too many wrong passwords; retry after `Retry-After` seconds."
)


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
        data = validated(ProfileUpdateSerializer, request, partial=True)
        user = services.user_update_profile(user=request.user, **data)  # type: ignore[arg-type]
        return Response(UserSerializer(user).data)

    @extend_schema(
        tags=["users"],
        summary="Delete the caller's account: deactivated now, erased after the grace period",
        request=AccountDeleteSerializer,
        responses={
            204: None,
            400: OpenApiResponse(ValidationErrorSerializer, description="Wrong password, or the last active admin."),
            429: _too_many_wrong_passwords,
        },
    )
    def delete(self, request: Request) -> Response:
        data = validated(AccountDeleteSerializer, request)
        services.user_delete_self(user=request.user, client=client_of(request), **data)  # type: ignore[arg-type]
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
        responses={204: None, 429: _too_many_wrong_passwords},
    )
    def post(self, request: Request) -> Response:
        data = validated(PasswordChangeSerializer, request)
        services.user_change_password(user=request.user, client=client_of(request), **data)  # type: ignore[arg-type]
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

    permission_classes = (IsAdminUser,)  # an admin is staff (`User.is_staff`), and only active users are
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
        user = services.user_create(**validated(UserCreateSerializer, request), welcome=True)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = validated(UserUpdateSerializer, request, partial=True)
        user = services.user_update(user=self.get_object(), by=request.user, **data)  # type: ignore[arg-type]
        return Response(UserSerializer(user).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.user_deactivate(user=self.get_object(), by=request.user)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)
