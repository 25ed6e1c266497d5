"""Business rules that change tasks."""

import datetime

from django.utils import timezone

from accounts.models import User
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
) -> Task:
    """Change a task; `None` leaves a field as it is (for `due_date`, `None` clears it)."""
    previous_status = task.status
    changes = {"title": title, "description": description, "status": status, "priority": priority}
    for field, value in changes.items():
        if value is not None:
            setattr(task, field, value)
    if due_date is not _UNSET:
        task.due_date = due_date  # type: ignore[assignment]
    stamp_completion(task, previous_status=previous_status)
    task.save()
    return task


def stamp_completion(task: Task, *, previous_status: str | None) -> None:
    """`completed_at` is set when a task becomes done and cleared when it leaves done."""
    if task.status == TaskStatus.DONE and previous_status != TaskStatus.DONE:
        task.completed_at = timezone.now()
    elif task.status != TaskStatus.DONE:
        task.completed_at = None
