"""Business rules that change tasks."""

import datetime
from typing import TypedDict, Unpack

from django.utils import timezone

from accounts.models import User
from common.updates import model_update
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


class TaskChanges(TypedDict, total=False):
    """What `task_update` may change; a field not given is left as it is."""

    title: str
    description: str
    status: TaskStatus
    priority: Priority
    due_date: datetime.date | None  # None clears it


def task_update(*, task: Task, **changes: Unpack[TaskChanges]) -> Task:
    """Change the fields given, stamping or clearing `completed_at` as the status says."""
    previous_status = task.status
    model_update(instance=task, fields=TaskChanges.__annotations__, data=changes)
    stamp_completion(task, previous_status=previous_status)
    task.save()
    return task


def stamp_completion(task: Task, *, previous_status: str | None) -> None:
    """`completed_at` is set when a task becomes done and cleared when it leaves done."""
    if task.status == TaskStatus.DONE and previous_status != TaskStatus.DONE:
        task.completed_at = timezone.now()
    elif task.status != TaskStatus.DONE:
        task.completed_at = None
