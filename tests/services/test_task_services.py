"""The task services called directly: creation, partial updates and completion stamping."""

import datetime

import pytest

from accounts.models import User
from tasks import services
from tasks.models import Priority, TaskStatus
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def test_task_create_done_is_stamped_completed(user: User) -> None:
    task = services.task_create(owner=user, title="Ship", status=TaskStatus.DONE)
    assert task.completed_at is not None


def test_task_create_defaults_to_a_todo_of_medium_priority(user: User) -> None:
    task = services.task_create(owner=user, title="Plan")
    assert (task.status, task.priority, task.completed_at) == (TaskStatus.TODO, Priority.MEDIUM, None)


def test_task_update_changes_only_the_fields_given(user: User) -> None:
    task = TaskFactory.create(owner=user, title="Old", due_date=datetime.date(2030, 1, 1))
    services.task_update(task=task, priority=Priority.HIGH)
    task.refresh_from_db()
    assert (task.title, task.priority, task.due_date) == ("Old", Priority.HIGH, datetime.date(2030, 1, 1))


def test_task_update_with_due_date_none_clears_it(user: User) -> None:
    task = TaskFactory.create(owner=user, due_date=datetime.date(2030, 1, 1))
    services.task_update(task=task, due_date=None)
    task.refresh_from_db()
    assert task.due_date is None


def test_task_update_stamps_completion_once_and_clears_it_on_reopening(user: User) -> None:
    task = TaskFactory.create(owner=user)
    services.task_update(task=task, status=TaskStatus.DONE)
    stamped = task.completed_at
    assert stamped is not None
    services.task_update(task=task, title="Still done", status=TaskStatus.DONE)
    assert task.completed_at == stamped  # staying done keeps the first moment
    services.task_update(task=task, status=TaskStatus.IN_PROGRESS)
    task.refresh_from_db()
    assert task.completed_at is None


def test_priority_names_and_numbers_translate_both_ways() -> None:
    assert Priority.labels == ["low", "medium", "high"]
    assert [Priority.from_name(name) for name in Priority.labels] == [Priority.LOW, Priority.MEDIUM, Priority.HIGH]
    assert Priority.name_of(3) == "high"
