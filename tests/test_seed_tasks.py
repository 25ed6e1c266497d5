from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import User
from tasks.models import Task

pytestmark = pytest.mark.django_db


def test_seed_tasks_builds_users_and_their_tasks_with_progress() -> None:
    out = StringIO()
    call_command("seed_tasks", "--users", "3", "--tasks-per-user", "50", stdout=out)
    assert User.objects.filter(email__startswith="seed-").count() == 3
    assert Task.objects.count() == 150
    assert set(Task.objects.values_list("owner", flat=True)) == set(
        User.objects.filter(email__startswith="seed-").values_list("id", flat=True)
    )
    assert "150 / 150 tasks (100%" in out.getvalue()
    seeded = User.objects.filter(email__startswith="seed-").first()
    assert seeded is not None
    assert seeded.check_password("seed-user-passphrase")


def test_seeding_twice_reuses_the_users() -> None:
    call_command("seed_tasks", "--users", "2", "--tasks-per-user", "5", stdout=StringIO())
    call_command("seed_tasks", "--users", "2", "--tasks-per-user", "5", stdout=StringIO())
    assert User.objects.filter(email__startswith="seed-").count() == 2
    assert Task.objects.count() == 20
