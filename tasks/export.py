"""`GET /api/v1/users/me/export`: the caller's account and tasks as one JSON document.

It lives here, not in `accounts`, because it reads both apps and `accounts` knows nothing of
tasks. Only the caller's own tasks are in it, also for an admin.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import UserSerializer
from tasks.models import Task
from tasks.serializers import TaskSerializer


class AccountExportView(APIView):
    """Data portability: everything the API holds about the caller, in one document."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        tags=["users"],
        summary="Export the caller's account and tasks",
        responses={
            200: inline_serializer(
                "AccountExport",
                {"account": UserSerializer(), "tasks": TaskSerializer(many=True)},
            )
        },
    )
    def get(self, request: Request) -> Response:
        tasks = Task.objects.owned_by(request.user).order_by("created_at", "id")  # type: ignore[arg-type]
        response = Response(
            {"account": UserSerializer(request.user).data, "tasks": TaskSerializer(tasks, many=True).data}
        )
        response["Content-Disposition"] = 'attachment; filename="account-export.json"'
        return response
