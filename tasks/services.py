"""Business rules that change tasks."""

import datetime

from django.utils import timezone

from accounts.models import User
from common.exceptions import PreconditionFailed
from tasks.models import Priority, Task, TaskStatus


def task_create(
    *,
    owner: User,
    title: str,
    description: str = "",
    status: TaskStatus = TaskStatus.TODO,
    priority: Priority = Priority.MEDIUM,
    due_date: datetime.date | None = None,
) -> Task:
    task = Task(owner=owner, title=title, description=description, status=status, priority=priority, due_date=due_date)
    stamp_completion(task, previous_status=None)
    task.save()
    return task


_UNSET = object()


def task_update(
    *,
    task: Task,
    title: str | None = None,
    description: str | None = None,
    status: TaskStatus | None = None,
    priority: Priority | None = None,
    due_date: datetime.date | object | None = _UNSET,
    if_version: int | None = None,
) -> Task:
    """Change a task; `None` leaves a field as it is (for `due_date`, `None` clears it).

    With `if_version`, the change is written only if the task is still at that version (in the
    same UPDATE that writes it); otherwise nothing is written and `PreconditionFailed` is raised.
    """
    previous_status = task.status
    changes = {"title": title, "description": description, "status": status, "priority": priority}
    for field, value in changes.items():
        if value is not None:
            setattr(task, field, value)
    if due_date is not _UNSET:
        task.due_date = due_date  # type: ignore[assignment]
    stamp_completion(task, previous_status=previous_status)
    if if_version is None:
        task.save()
        return task
    task.updated_at = timezone.now()
    columns = {
        field.attname: getattr(task, field.attname)
        for field in Task._meta.concrete_fields
        if not field.primary_key and field.attname not in ("version", "created_at")
    }
    if not Task.objects.filter(pk=task.pk, version=if_version).update(**columns, version=if_version + 1):
        raise PreconditionFailed()
    task.version = if_version + 1
    return task


def task_delete(*, task: Task, if_version: int | None = None) -> None:
    """Delete a task; with `if_version`, only if it is still at that version (one DELETE decides)."""
    if if_version is None:
        task.delete()
    elif not Task.objects.filter(pk=task.pk, version=if_version).delete()[0]:
        raise PreconditionFailed()


def stamp_completion(task: Task, *, previous_status: str | None) -> None:
    """`completed_at` is set when a task becomes done and cleared when it leaves done."""
    if task.status == TaskStatus.DONE and previous_status != TaskStatus.DONE:
        task.completed_at = timezone.now()
    elif task.status != TaskStatus.DONE:
        task.completed_at = None
