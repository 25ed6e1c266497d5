"""The tasks API does a fixed number of queries per request, however many tasks there are."""

import datetime
from collections.abc import Callable

import pytest
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from accounts.models import User
from tasks.models import Priority, Task, TaskStatus
from tests.factories import AdminFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], APIClient]

LIST = "/api/v1/tasks/"

# Load the caller, count the matching tasks, load the page.
LIST_QUERIES = 3
# Load the caller, load the task.
RETRIEVE_QUERIES = 2
# Load the caller, load the task, write it.
UPDATE_QUERIES = 3
DELETE_QUERIES = 3


def detail(task_id: int) -> str:
    return f"/api/v1/tasks/{task_id}"


def own_task(client_for: ClientFor) -> tuple[Task, APIClient]:
    """A task, and a client signed in as its owner."""
    user = UserFactory.create()
    return TaskFactory.create(owner=user), client_for(user)


@pytest.mark.parametrize("count", [1, 50])
def test_user_list_queries_do_not_grow_with_the_number_of_tasks(
    client_for: ClientFor, django_assert_num_queries: DjangoAssertNumQueries, count: int
) -> None:
    user = UserFactory.create()
    TaskFactory.create_batch(count, owner=user)
    TaskFactory.create_batch(3, owner=UserFactory.create())
    client = client_for(user)

    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(LIST)

    assert response.status_code == 200
    assert response.json()["count"] == count


@pytest.mark.parametrize("owners", [1, 50])
def test_admin_list_queries_do_not_grow_with_tasks_or_owners(
    client_for: ClientFor, django_assert_num_queries: DjangoAssertNumQueries, owners: int
) -> None:
    admin = AdminFactory.create()
    for _ in range(owners):
        TaskFactory.create(owner=UserFactory.create())
    client = client_for(admin)

    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(LIST, {"page_size": 100})

    assert response.status_code == 200
    assert len(response.json()["results"]) == owners
    assert len({item["owner"] for item in response.json()["results"]}) == owners


@pytest.mark.parametrize(
    "params",
    [
        {"status": "todo"},
        {"priority": "high", "ordering": "-priority"},
        {"search": "task", "ordering": "title"},
        {"due_after": "2000-01-01", "due_before": "2100-01-01", "ordering": "due_date"},
        {"page_size": 5, "page": 2},
    ],
)
def test_filtered_and_ordered_lists_use_the_same_queries(
    client_for: ClientFor, django_assert_num_queries: DjangoAssertNumQueries, params: dict[str, str | int]
) -> None:
    user = UserFactory.create()
    TaskFactory.create_batch(30, owner=user, priority=Priority.HIGH, due_date=datetime.date(2030, 1, 1))
    client = client_for(user)

    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(LIST, params)

    assert response.status_code == 200
    assert response.json()["results"]


def test_create_takes_at_most_three_queries(
    client_for: ClientFor, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    user = UserFactory.create()
    client = client_for(user)

    with django_assert_max_num_queries(3):
        response = client.post(
            LIST,
            {"title": "Counted", "status": "done", "priority": "high", "due_date": "2030-01-01"},
            format="json",
        )

    assert response.status_code == 201, response.content
    assert Task.objects.filter(owner=user).count() == 1


def test_retrieve_queries(client_for: ClientFor, django_assert_num_queries: DjangoAssertNumQueries) -> None:
    task, client = own_task(client_for)

    with django_assert_num_queries(RETRIEVE_QUERIES):
        response = client.get(detail(task.pk))

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("put", {"title": "Replaced", "status": "done", "priority": "low", "due_date": "2030-01-01"}),
        ("patch", {"status": "done"}),
        ("patch", {"title": "Renamed"}),
    ],
)
def test_update_queries(
    client_for: ClientFor,
    django_assert_num_queries: DjangoAssertNumQueries,
    method: str,
    payload: dict[str, str],
) -> None:
    task, client = own_task(client_for)

    with django_assert_num_queries(UPDATE_QUERIES):
        response = getattr(client, method)(detail(task.pk), payload, format="json")

    assert response.status_code == 200, response.content


def test_admin_update_of_another_users_task_queries(
    client_for: ClientFor, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    task = TaskFactory.create(owner=UserFactory.create())
    client = client_for(AdminFactory.create())

    with django_assert_num_queries(UPDATE_QUERIES):
        response = client.patch(detail(task.pk), {"status": "done"}, format="json")

    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE


def test_delete_queries(client_for: ClientFor, django_assert_num_queries: DjangoAssertNumQueries) -> None:
    task, client = own_task(client_for)

    with django_assert_num_queries(DELETE_QUERIES):
        response = client.delete(detail(task.pk))

    assert response.status_code == 204
    assert not Task.objects.filter(pk=task.pk).exists()


def test_invalid_update_does_not_write(
    client_for: ClientFor, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    task, client = own_task(client_for)

    # Load the caller and the task; the refused body leads to no write.
    with django_assert_num_queries(2):
        response = client.patch(detail(task.pk), {"status": "bogus"}, format="json")

    assert response.status_code == 400
