"""The fast representations of tasks and users say exactly what DRF's field-by-field ones say."""

from datetime import date

import orjson
import pytest
from django.utils import timezone
from rest_framework import serializers

from accounts.models import User
from accounts.serializers import UserSerializer
from common.renderers import FastJSONRenderer
from tasks.models import Priority, Task, TaskStatus
from tasks.serializers import TaskSerializer
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"status": TaskStatus.DONE, "completed_at": timezone.now(), "due_date": date(2026, 12, 31)},
        {"priority": Priority.HIGH, "description": "", "title": "ünïcode \N{GRINNING FACE}"},
        {"priority": Priority.LOW, "status": TaskStatus.IN_PROGRESS},
    ],
)
def test_fast_representation_matches_drf_field_by_field(user: User, fields: dict[str, object]) -> None:
    task = TaskFactory.create(owner=user, **fields)
    task.refresh_from_db()
    fast = FastJSONRenderer().render(TaskSerializer(task).data)
    standard = FastJSONRenderer().render(serializers.ModelSerializer.to_representation(TaskSerializer(), task))
    assert orjson.loads(fast) == orjson.loads(standard)
    assert set(orjson.loads(fast)) == set(TaskSerializer.Meta.fields)


@pytest.mark.parametrize(
    "fields", [{}, {"status": TaskStatus.DONE, "completed_at": timezone.now(), "due_date": date(2026, 1, 2)}]
)
def test_a_list_pages_row_renders_exactly_as_its_task(user: User, fields: dict[str, object]) -> None:
    task = TaskFactory.create(owner=user, **fields)
    task.refresh_from_db()
    row = Task.objects.filter(pk=task.pk).values().get()  # how the list reads its page
    assert FastJSONRenderer().render(TaskSerializer(row).data) == FastJSONRenderer().render(TaskSerializer(task).data)


def test_times_are_written_in_utc_with_z(user: User) -> None:
    task = TaskFactory.create(owner=user)
    rendered = orjson.loads(FastJSONRenderer().render(TaskSerializer(task).data))
    assert rendered["created_at"].endswith("Z")


@pytest.mark.parametrize("logged_in", [False, True])
def test_fast_user_representation_matches_drf_field_by_field(logged_in: bool) -> None:
    user = UserFactory.create(last_login=timezone.now() if logged_in else None, full_name="Zoë")
    user.refresh_from_db()
    fast = FastJSONRenderer().render(UserSerializer(user).data)
    standard = FastJSONRenderer().render(serializers.ModelSerializer.to_representation(UserSerializer(), user))
    assert orjson.loads(fast) == orjson.loads(standard)
    assert set(orjson.loads(fast)) == set(UserSerializer.Meta.fields)
