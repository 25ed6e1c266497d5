from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class IsAdminRole(BasePermission):
    """The caller is an active user with the `admin` role."""

    message = "Only admins may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and getattr(request.user, "is_admin", False))


class IsOwnerOrAdmin(BasePermission):
    """The object's `owner` is the caller, or the caller is an admin."""

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        user = request.user
        return bool(getattr(user, "is_admin", False) or obj.owner_id == getattr(user, "pk", None))
