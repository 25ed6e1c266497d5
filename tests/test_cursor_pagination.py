"""`?cursor=` pages: a unique sort key, full next/previous links, no COUNT, a 400 for a bad cursor."""

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.problem_helpers import assert_problem

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks/"
USERS = "/api/v1/users/"


def page(client: APIClient, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    assert set(body) == {"next", "previous", "results"}
    return body


def walk(client: APIClient, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page from the first, following `next`; the pages' ids in order."""
    body = page(client, url, params)
    pages = [body]
    while body["next"]:
        body = page(client, body["next"])
        pages.append(body)
    return pages


@pytest.fixture
def tasks(user: User) -> list[Task]:
    """25 tasks, several created in the same instant so that only the id tells them apart."""
    made = TaskFactory.create_batch(25, owner=user)
    same = timezone.now()
    Task.objects.filter(pk__in=[task.pk for task in made[5:15]]).update(created_at=same)
    return list(Task.objects.filter(owner=user).order_by("-created_at", "-id"))


def test_an_empty_cursor_is_the_first_page_newest_first(user_client: APIClient, tasks: list[Task]) -> None:
    body = page(user_client, TASKS, {"cursor": "", "page_size": 10})
    assert [item["id"] for item in body["results"]] == [task.pk for task in tasks[:10]]
    assert body["previous"] is None
    assert body["next"].startswith("http://testserver/api/v1/tasks/?")


def test_following_next_gives_every_task_once_in_order(user_client: APIClient, tasks: list[Task]) -> None:
    pages = walk(user_client, TASKS, {"cursor": "", "page_size": 10})
    assert [len(body["results"]) for body in pages] == [10, 10, 5]
    assert [item["id"] for body in pages for item in body["results"]] == [task.pk for task in tasks]


def test_links_keep_the_other_query_parameters(user_client: APIClient, tasks: list[Task]) -> None:
    body = page(user_client, TASKS, {"cursor": "", "page_size": 3, "status": "todo"})
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["page_size"] == ["3"]
    assert query["status"] == ["todo"]
    assert query["cursor"][0]


def test_previous_leads_back_to_the_page_before(user_client: APIClient, tasks: list[Task]) -> None:
    first = page(user_client, TASKS, {"cursor": "", "page_size": 10})
    second = page(user_client, first["next"])
    third = page(user_client, second["next"])
    assert page(user_client, third["previous"])["results"] == second["results"]
    back = page(user_client, second["previous"])
    assert back["results"] == first["results"]
    assert back["previous"] is None


def test_tasks_added_meanwhile_do_not_shift_the_pages(user_client: APIClient, user: User, tasks: list[Task]) -> None:
    first = page(user_client, TASKS, {"cursor": "", "page_size": 10})
    TaskFactory.create_batch(3, owner=user)  # newer than every task seen
    second = page(user_client, first["next"])
    assert [item["id"] for item in second["results"]] == [task.pk for task in tasks[10:20]]


def test_a_cursor_page_runs_no_count(user_client: APIClient, tasks: list[Task]) -> None:
    next_url = page(user_client, TASKS, {"cursor": "", "page_size": 5})["next"]
    for params in ({"cursor": ""}, None):
        with CaptureQueriesContext(connection) as queries:
            user_client.get(TASKS if params else next_url, params)
        assert len(queries) == 2  # the caller, the page
        assert not any("COUNT(" in query["sql"].upper() for query in queries)


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%%%",
        _cursor([1, 2]),
        _cursor({"p": [1], "b": False}),
        _cursor({"p": ["2030-01-01T00:00:00Z", 2**80], "b": False}),
        _cursor({"p": ["2030-01-01T00:00:00Z", 2**63], "b": False}),
        _cursor({"p": ["2030-01-01T00:00:00Z", 1e400], "b": False}),
        _cursor({"p": ["2030-01-01T00:00:00", 1], "b": False}),
        _cursor({"p": ["yesterday", 1], "b": False}),
        _cursor({"p": ["2030-01-01T00:00:00Z", 1], "b": "no"}),
    ],
)
def test_an_invalid_cursor_is_400(user_client: APIClient, tasks: list[Task], cursor: str) -> None:
    body = assert_problem(user_client.get(TASKS, {"cursor": cursor}), 400)
    assert set(body["errors"]) == {"cursor"}


@pytest.mark.parametrize("other", [{"page": 2}, {"ordering": "title"}])
def test_a_cursor_cannot_be_combined_with_page_or_ordering(
    user_client: APIClient, tasks: list[Task], other: dict[str, Any]
) -> None:
    body = assert_problem(user_client.get(TASKS, {"cursor": "", **other}), 400)
    assert set(body["errors"]) == {"cursor"}


def test_page_numbers_still_work_with_their_count(user_client: APIClient, tasks: list[Task]) -> None:
    body = user_client.get(TASKS, {"page": 2, "page_size": 10}).json()
    assert body["count"] == 25
    assert [item["id"] for item in body["results"]] == [task.pk for task in tasks[10:20]]


def test_users_page_by_cursor_in_id_order(admin_client: APIClient, admin_user: User) -> None:
    UserFactory.create_batch(6)
    pages = walk(admin_client, USERS, {"cursor": "", "page_size": 4})
    ids = [item["id"] for body in pages for item in body["results"]]
    assert ids == list(User.objects.order_by("id").values_list("id", flat=True))
    assert len(pages) == 2


def test_lists_without_a_cursor_order_ignore_the_parameter(user_client: APIClient) -> None:
    response = user_client.get("/api/v1/auth/sessions/", {"cursor": "anything"})
    assert response.status_code == 200
    assert "count" in response.json()


def test_cursor_links_are_built_on_the_public_base_url(
    user_client: APIClient, tasks: list[Task], settings: Any
) -> None:
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    body = page(user_client, TASKS, {"cursor": "", "page_size": 10})
    assert body["next"].startswith("https://api.example.com/api/v1/tasks/?")
    assert page(user_client, body["next"])["previous"].startswith("https://api.example.com/api/v1/tasks/?")
