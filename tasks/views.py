from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.serializers import BaseSerializer

from common.filters import QueryParamFilterBackend, StableOrderingFilter
from tasks import services
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.serializers import TaskSerializer


@extend_schema_view(
    list=extend_schema(summary="List tasks (a user's own; every task for an admin)"),
    create=extend_schema(summary="Create a task owned by the caller"),
    retrieve=extend_schema(summary="Get a task"),
    update=extend_schema(summary="Replace a task's fields"),
    partial_update=extend_schema(summary="Change some of a task's fields"),
    destroy=extend_schema(summary="Delete a task"),
)
@extend_schema(tags=["tasks"])
class TaskViewSet(viewsets.ModelViewSet):
    """Tasks. Another user's task answers 404, so its existence is not revealed."""

    serializer_class = TaskSerializer
    # No object permission: the queryset holds only the tasks the caller may see, so another
    # user's task is a 404 before any object check could run.
    permission_classes = (IsAuthenticated,)
    lookup_value_regex = r"\d+"
    filter_backends = (QueryParamFilterBackend, StableOrderingFilter)
    filterset_class = TaskFilter
    ordering_fields = ("created_at", "updated_at", "due_date", "priority", "title")
    ordering = ("-created_at",)

    def get_queryset(self) -> QuerySet[Task]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller to scope to
            return Task.objects.none()
        return Task.objects.visible_to(self.request.user)  # type: ignore[arg-type]

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.task_create(owner=self.request.user, **serializer.validated_data)  # type: ignore[arg-type]

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.task_update(task=serializer.instance, **serializer.validated_data)  # type: ignore[arg-type]
