from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from common.conditional import etag_for, not_modified, required_version
from common.filters import QueryParamFilterBackend, StableOrderingFilter
from common.idempotency import idempotent
from common.openapi import CONDITIONAL_READ, CONDITIONAL_WRITE, ErrorSerializer
from tasks import services
from tasks.filters import TaskFilter
from tasks.models import Task
from tasks.serializers import TaskSerializer

_changed = OpenApiResponse(ErrorSerializer, description="The task changed since the ETag sent in `If-Match`.")
_required = OpenApiResponse(ErrorSerializer, description="`If-Match` is required (`REQUIRE_IF_MATCH` is on).")


@extend_schema_view(
    list=extend_schema(summary="List tasks (a user's own; every task for an admin)"),
    create=extend_schema(summary="Create a task owned by the caller"),
    retrieve=extend_schema(
        summary="Get a task",
        parameters=CONDITIONAL_READ,
        responses={200: TaskSerializer, 304: OpenApiResponse(description="The `If-None-Match` ETag is current.")},
    ),
    update=extend_schema(
        summary="Replace a task's fields",
        parameters=CONDITIONAL_WRITE,
        responses={200: TaskSerializer, 412: _changed, 428: _required},
    ),
    partial_update=extend_schema(
        summary="Change some of a task's fields",
        parameters=CONDITIONAL_WRITE,
        responses={200: TaskSerializer, 412: _changed, 428: _required},
    ),
    destroy=extend_schema(
        summary="Delete a task",
        parameters=CONDITIONAL_WRITE,
        responses={204: None, 412: _changed, 428: _required},
    ),
)
@extend_schema(tags=["tasks"])
class TaskViewSet(viewsets.ModelViewSet):
    """Tasks. Another user's task answers 404, so its existence is not revealed."""

    # A task's ETag is its version: `If-None-Match` makes a GET answer 304 while it is current,
    # `If-Match` makes a change or a delete answer 412 once it is not (see `common.conditional`).

    serializer_class = TaskSerializer
    # No object permission: the queryset holds only the tasks the caller may see, so another
    # user's task is a 404 before any object check could run.
    permission_classes = (IsAuthenticated,)
    lookup_value_regex = r"\d+"
    filter_backends = (QueryParamFilterBackend, StableOrderingFilter)
    filterset_class = TaskFilter
    ordering_fields = ("created_at", "updated_at", "due_date", "priority", "title")
    ordering = ("-created_at",)
    # `?cursor=` pages newest first, on a unique key that the `tasks_created` index serves.
    cursor_ordering = ("-created_at", "-id")

    def get_queryset(self) -> QuerySet[Task]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller to scope to
            return Task.objects.none()
        return Task.objects.visible_to(self.request.user)  # type: ignore[arg-type]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # DRF's list, with the page read as rows (`.values()`: the same statement) rather than as
        # tasks: building 100 model instances was a fifth of a page's time. (A comment, not a
        # docstring: the schema would take a docstring for the operation's description.)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()).values())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.task_create(owner=self.request.user, **serializer.validated_data)  # type: ignore[arg-type]

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        etag = etag_for(task.version)
        if not_modified(request, etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(self.get_serializer(task).data, headers={"ETag": etag})

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        task = self.get_object()
        serializer = self.get_serializer(task, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        if_version = required_version(request, task.version)
        task = services.task_update(task=task, if_version=if_version, **serializer.validated_data)
        return Response(self.get_serializer(task).data, headers={"ETag": etag_for(task.version)})

    def perform_destroy(self, instance: Task) -> None:
        services.task_delete(task=instance, if_version=required_version(self.request, instance.version))
