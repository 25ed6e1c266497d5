"""The tasks API as a client sees it: CRUD, ownership, completion stamps, validation, filters and pages."""

from __future__ import annotations

import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from tasks.models import Priority, Task, TaskStatus
from tests.factories import TaskFactory, UserFactory
from tests.problem_helpers import assert_problem

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as Response

pytestmark = pytest.mark.django_db

LIST = "/api/v1/tasks/"
ROOT = Path(__file__).resolve().parent.parent


def detail(task_id: int, *, slash: bool = True) -> str:
    return f"/api/v1/tasks/{task_id}" + ("/" if slash else "")


def validation_errors(response: Response) -> dict[str, list[str]]:
    body = assert_problem(response, 400)
    assert body["code"] == "invalid"
    errors: dict[str, list[str]] = body["errors"]
    return errors


def row(task: Task) -> dict[str, Any]:
    """Every column of the task as the database holds it now."""
    columns = [field.attname for field in Task._meta.concrete_fields]
    return Task.objects.filter(pk=task.pk).values(*columns).get()


def ids(response: Response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


@cache
def documented_fields(component: str) -> set[str]:
    """The fields of `component` in openapi.yaml, the contract clients are generated from (kept equal
    to the code by `make schema-check`)."""
    return set(yaml.safe_load((ROOT / "openapi.yaml").read_text())["components"]["schemas"][component]["properties"])


# --- CRUD ------------------------------------------------------------------------------------------


def test_create_applies_defaults_and_makes_the_caller_the_owner(user: User, user_client: APIClient) -> None:
    response = user_client.post(LIST, {"title": "Buy milk"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == documented_fields("Task")
    assert body["title"] == "Buy milk"
    assert body["description"] == ""
    assert body["status"] == "todo"
    assert body["priority"] == "medium"
    assert body["due_date"] is None
    assert body["completed_at"] is None
    assert body["owner"] == user.pk
    assert body["created_at"]
    assert body["updated_at"]

    task = Task.objects.get(pk=body["id"])
    assert task.owner_id == user.pk
    assert task.title == "Buy milk"
    assert task.status == TaskStatus.TODO
    assert task.priority == Priority.MEDIUM
    assert task.due_date is None


def test_create_with_every_field(user: User, user_client: APIClient) -> None:
    payload = {
        "title": "Write report",
        "description": "Quarterly numbers",
        "status": "in_progress",
        "priority": "high",
        "due_date": "2030-05-17",
    }
    response = user_client.post(LIST, payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    for field, value in payload.items():
        assert body[field] == value
    task = Task.objects.get(pk=body["id"])
    assert task.status == TaskStatus.IN_PROGRESS
    assert task.priority == Priority.HIGH
    assert task.due_date == datetime.date(2030, 5, 17)


def test_owner_in_the_body_is_ignored_on_create(user: User, other_user: User, user_client: APIClient) -> None:
    response = user_client.post(LIST, {"title": "Mine", "owner": other_user.pk}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["owner"] == user.pk
    assert Task.objects.get(pk=response.json()["id"]).owner_id == user.pk
    assert not Task.objects.filter(owner=other_user).exists()


def test_owner_in_the_body_is_ignored_on_create_by_an_admin(
    admin_user: User, other_user: User, admin_client: APIClient
) -> None:
    response = admin_client.post(LIST, {"title": "For someone else?", "owner": other_user.pk}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["owner"] == admin_user.pk
    assert Task.objects.get(pk=response.json()["id"]).owner_id == admin_user.pk
    assert not Task.objects.filter(owner=other_user).exists()


def test_list_and_retrieve_show_the_task(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(owner=user, title="Read", priority=Priority.LOW, due_date=datetime.date(2030, 1, 2))

    listing = user_client.get(LIST)
    assert listing.status_code == 200, listing.content
    assert [item["id"] for item in listing.json()["results"]] == [task.pk]

    response = user_client.get(detail(task.pk))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == listing.json()["results"][0]
    assert body["title"] == "Read"
    assert body["priority"] == "low"
    assert body["due_date"] == "2030-01-02"
    assert body["owner"] == user.pk


def test_put_replaces_the_fields(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(owner=user, title="Old", description="old text")
    payload = {
        "title": "New",
        "description": "new text",
        "status": "in_progress",
        "priority": "low",
        "due_date": "2031-02-03",
    }

    response = user_client.put(detail(task.pk), payload, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    for field, value in payload.items():
        assert body[field] == value
    task.refresh_from_db()
    assert task.title == "New"
    assert task.description == "new text"
    assert task.status == TaskStatus.IN_PROGRESS
    assert task.priority == Priority.LOW
    assert task.due_date == datetime.date(2031, 2, 3)
    assert task.owner_id == user.pk


def test_put_without_a_title_is_refused(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(owner=user)
    before = row(task)

    response = user_client.put(detail(task.pk), {"status": "done"}, format="json")

    assert "title" in validation_errors(response)
    assert row(task) == before


def test_patch_changes_only_the_fields_sent(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(
        owner=user, title="Keep", description="keep me", priority=Priority.LOW, due_date=datetime.date(2030, 3, 4)
    )

    response = user_client.patch(detail(task.pk), {"priority": "high"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["priority"] == "high"
    assert body["title"] == "Keep"
    assert body["description"] == "keep me"
    assert body["due_date"] == "2030-03-04"
    task.refresh_from_db()
    assert task.priority == Priority.HIGH
    assert task.title == "Keep"
    assert task.description == "keep me"
    assert task.due_date == datetime.date(2030, 3, 4)


def test_update_moves_updated_at_and_keeps_created_at(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(owner=user)
    long_ago = timezone.now() - datetime.timedelta(days=3)
    Task.objects.filter(pk=task.pk).update(created_at=long_ago, updated_at=long_ago)

    response = user_client.patch(detail(task.pk), {"title": "Touched"}, format="json")

    assert response.status_code == 200, response.content
    after = row(task)
    assert after["created_at"] == long_ago
    assert after["updated_at"] > long_ago


def test_patch_with_a_null_due_date_clears_it(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(owner=user, due_date=datetime.date(2030, 3, 4))

    response = user_client.patch(detail(task.pk), {"due_date": None}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["due_date"] is None
    task.refresh_from_db()
    assert task.due_date is None


def test_patch_can_empty_the_description(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(owner=user, description="something")

    response = user_client.patch(detail(task.pk), {"description": ""}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["description"] == ""
    task.refresh_from_db()
    assert task.description == ""


def test_read_only_fields_in_the_body_are_ignored_on_update(
    user: User, other_user: User, user_client: APIClient
) -> None:
    task = TaskFactory.create(owner=user)
    before = row(task)

    response = user_client.patch(
        detail(task.pk),
        {
            "id": task.pk + 1000,
            "owner": other_user.pk,
            "created_at": "2000-01-01T00:00:00Z",
            "completed_at": "2000-01-01T00:00:00Z",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    after = row(task)
    assert after["id"] == task.pk
    assert after["owner_id"] == user.pk
    assert after["created_at"] == before["created_at"]
    assert after["completed_at"] is None


def test_delete_answers_204_and_the_task_is_gone(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(owner=user)

    response = user_client.delete(detail(task.pk))

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert not Task.objects.filter(pk=task.pk).exists()
    assert_problem(user_client.get(detail(task.pk)), 404)
    assert_problem(user_client.delete(detail(task.pk)), 404)


def test_unknown_task_is_404(user_client: APIClient) -> None:
    assert_problem(user_client.get(detail(987654)), 404)


def test_task_id_beyond_any_integer_is_404(user_client: APIClient, admin_client: APIClient) -> None:
    assert_problem(user_client.get(detail(10**25)), 404)
    assert_problem(admin_client.get(detail(10**25)), 404)


@pytest.mark.parametrize("whose", ["another user's", "nobody's"])
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_task_404_has_the_api_error_shape(other_user: User, user_client: APIClient, method: str, whose: str) -> None:
    """A task the caller cannot see answers like every other API error: `{"detail": ..., "code": "not_found"}`."""
    task_id = TaskFactory.create(owner=other_user).pk if whose == "another user's" else 987654

    response = getattr(user_client, method)(detail(task_id), {"title": "x"}, format="json")

    body = assert_problem(response, 404)
    assert body["code"] == "not_found"


def test_anonymous_caller_gets_401_and_nothing_is_written(api_client: APIClient, user: User) -> None:
    task = TaskFactory.create(owner=user)

    body = assert_problem(api_client.get(LIST), 401)
    assert body["code"] == "not_authenticated"
    assert_problem(api_client.post(LIST, {"title": "x"}, format="json"), 401)
    assert_problem(api_client.delete(detail(task.pk)), 401)
    assert Task.objects.count() == 1


# --- Trailing slashes ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/tasks/"])
def test_list_and_create_answer_with_and_without_trailing_slash(user_client: APIClient, path: str) -> None:
    created = user_client.post(path, {"title": "Slash"}, format="json")
    assert created.status_code == 201, created.content

    listing = user_client.get(path)
    assert listing.status_code == 200, listing.content
    assert [item["title"] for item in listing.json()["results"]] == ["Slash"]


@pytest.mark.parametrize("slash", [False, True])
def test_detail_paths_answer_with_and_without_trailing_slash(user: User, user_client: APIClient, slash: bool) -> None:
    task = TaskFactory.create(owner=user)
    path = detail(task.pk, slash=slash)

    assert user_client.get(path).status_code == 200
    put = user_client.put(path, {"title": "Put"}, format="json")
    assert put.status_code == 200, put.content
    patch = user_client.patch(path, {"title": "Patched"}, format="json")
    assert patch.status_code == 200, patch.content
    assert Task.objects.get(pk=task.pk).title == "Patched"
    assert user_client.delete(path).status_code == 204
    assert not Task.objects.filter(pk=task.pk).exists()


# --- Ownership -------------------------------------------------------------------------------------


def test_user_lists_only_own_tasks(user: User, other_user: User, user_client: APIClient) -> None:
    mine = TaskFactory.create_batch(2, owner=user)
    TaskFactory.create_batch(3, owner=other_user)

    response = user_client.get(LIST)

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert sorted(ids(response)) == sorted(task.pk for task in mine)


def test_user_cannot_widen_the_list_with_the_owner_filter(user: User, other_user: User, user_client: APIClient) -> None:
    TaskFactory.create(owner=user)
    TaskFactory.create(owner=other_user)

    response = user_client.get(LIST, {"owner": other_user.pk})

    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert ids(response) == []


@pytest.mark.parametrize("slash", [False, True])
def test_another_users_task_is_404_for_get(other_user: User, user_client: APIClient, slash: bool) -> None:
    task = TaskFactory.create(owner=other_user)

    assert_problem(user_client.get(detail(task.pk, slash=slash)), 404)


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("put", {"title": "Stolen", "status": "done", "priority": "high"}),
        ("patch", {"title": "Stolen"}),
        ("patch", {"status": "done"}),
        # An invalid body must not reveal the task's existence with a 400 either.
        ("put", {"title": ""}),
        ("patch", {"priority": "urgent"}),
        ("delete", None),
    ],
)
def test_another_users_task_is_404_for_writes_and_is_left_alone(
    other_user: User, user_client: APIClient, method: str, payload: dict[str, Any] | None
) -> None:
    task = TaskFactory.create(owner=other_user, title="Theirs")
    before = row(task)

    response = getattr(user_client, method)(detail(task.pk), payload, format="json")

    assert_problem(response, 404)
    assert row(task) == before


def test_admin_lists_every_task(user: User, other_user: User, admin_user: User, admin_client: APIClient) -> None:
    tasks = [
        TaskFactory.create(owner=user),
        TaskFactory.create(owner=other_user),
        TaskFactory.create(owner=admin_user),
    ]

    response = admin_client.get(LIST)

    assert response.json()["count"] == 3
    assert sorted(ids(response)) == sorted(task.pk for task in tasks)


def test_admin_filters_by_owner(user: User, other_user: User, admin_client: APIClient) -> None:
    theirs = TaskFactory.create_batch(2, owner=other_user)
    TaskFactory.create(owner=user)

    response = admin_client.get(LIST, {"owner": other_user.pk})

    assert response.json()["count"] == 2
    assert sorted(ids(response)) == sorted(task.pk for task in theirs)
    assert {item["owner"] for item in response.json()["results"]} == {other_user.pk}


def test_admin_owner_filter_for_nobody_is_empty(user: User, admin_client: APIClient) -> None:
    TaskFactory.create(owner=user)

    assert ids(admin_client.get(LIST, {"owner": 987654})) == []


def test_admin_owner_filter_beyond_any_database_id_is_a_400(user: User, admin_client: APIClient) -> None:
    TaskFactory.create(owner=user)

    assert "owner" in validation_errors(admin_client.get(LIST, {"owner": "9" * 25}))


@pytest.mark.parametrize("template", ["abc", "{pk}.5", "{pk}abc"])
def test_admin_owner_filter_must_be_a_whole_number(user: User, admin_client: APIClient, template: str) -> None:
    """`?owner=3.5` names no user: it is refused rather than read as owner 3."""
    TaskFactory.create(owner=user)

    assert "owner" in validation_errors(admin_client.get(LIST, {"owner": template.format(pk=user.pk)}))


def test_admin_reads_changes_and_deletes_another_users_task(other_user: User, admin_client: APIClient) -> None:
    task = TaskFactory.create(owner=other_user, title="Theirs")

    assert admin_client.get(detail(task.pk)).json()["title"] == "Theirs"

    put = admin_client.put(detail(task.pk), {"title": "Edited by admin", "owner": 0}, format="json")
    assert put.status_code == 200, put.content
    assert put.json()["owner"] == other_user.pk

    patch = admin_client.patch(detail(task.pk), {"status": "done"}, format="json")
    assert patch.status_code == 200, patch.content
    task.refresh_from_db()
    assert task.title == "Edited by admin"
    assert task.status == TaskStatus.DONE
    assert task.owner_id == other_user.pk

    assert admin_client.delete(detail(task.pk)).status_code == 204
    assert not Task.objects.filter(pk=task.pk).exists()


# --- completed_at ----------------------------------------------------------------------------------


def test_completed_at_is_set_kept_and_cleared(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(owner=user)
    assert task.completed_at is None

    before = timezone.now()
    done = user_client.patch(detail(task.pk), {"status": "done"}, format="json")
    after = timezone.now()
    assert done.status_code == 200, done.content
    task.refresh_from_db()
    stamped = task.completed_at
    assert stamped is not None
    assert before <= stamped <= after
    assert done.json()["completed_at"] is not None

    # Re-sending done, by PATCH or PUT, keeps the original stamp; so does changing other fields.
    again = user_client.patch(detail(task.pk), {"status": "done"}, format="json")
    assert again.status_code == 200
    assert again.json()["completed_at"] == done.json()["completed_at"]
    put = user_client.put(detail(task.pk), {"title": "Renamed", "status": "done"}, format="json")
    assert put.status_code == 200
    renamed = user_client.patch(detail(task.pk), {"priority": "high"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["completed_at"] == done.json()["completed_at"]
    task.refresh_from_db()
    assert task.completed_at == stamped

    reopened = user_client.patch(detail(task.pk), {"status": "in_progress"}, format="json")
    assert reopened.status_code == 200
    assert reopened.json()["completed_at"] is None
    task.refresh_from_db()
    assert task.completed_at is None


def test_leaving_done_by_put_clears_completed_at(user: User, user_client: APIClient) -> None:
    task = TaskFactory.create(owner=user)
    assert user_client.patch(detail(task.pk), {"status": "done"}, format="json").status_code == 200

    response = user_client.put(detail(task.pk), {"title": task.title, "status": "todo"}, format="json")

    assert response.status_code == 200
    assert response.json()["completed_at"] is None
    task.refresh_from_db()
    assert task.completed_at is None


# --- Validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"description": "no title"}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   \t\n "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": None}, "title"),
        ({"title": ["a list"]}, "title"),
        ({"title": {"an": "object"}}, "title"),
        ({"title": True}, "title"),
        # A number is not text: refused rather than quietly turned into "123" (see common/fields.py).
        ({"title": 123}, "title"),
        ({"title": 1.5}, "title"),
        ({"title": "ok", "description": 5}, "description"),
        ({"title": "ok", "description": "d" * 10_001}, "description"),
        ({"title": "ok", "description": None}, "description"),
        ({"title": "ok", "status": "finished"}, "status"),
        ({"title": "ok", "status": "DONE"}, "status"),
        ({"title": "ok", "status": None}, "status"),
        ({"title": "ok", "status": ["todo"]}, "status"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "priority": "High"}, "priority"),
        ({"title": "ok", "priority": 2}, "priority"),
        ({"title": "ok", "priority": None}, "priority"),
        ({"title": "ok", "priority": ["low"]}, "priority"),
        ({"title": "ok", "due_date": "tomorrow"}, "due_date"),
        ({"title": "ok", "due_date": "2030-02-30"}, "due_date"),
        ({"title": "ok", "due_date": "2030-01-01T10:00:00Z"}, "due_date"),
        ({"title": "ok", "due_date": 20300101}, "due_date"),
    ],
)
def test_create_with_invalid_field_is_400_and_writes_nothing(
    user_client: APIClient, payload: dict[str, Any], field: str
) -> None:
    response = user_client.post(LIST, payload, format="json")

    errors = validation_errors(response)
    assert field in errors
    assert errors[field]
    assert all(isinstance(message, str) and message for message in errors[field])
    assert Task.objects.count() == 0


def test_every_invalid_field_is_named(user_client: APIClient) -> None:
    response = user_client.post(
        LIST, {"title": "", "status": "bogus", "priority": "urgent", "due_date": "nope"}, format="json"
    )

    assert set(validation_errors(response)) == {"title", "status", "priority", "due_date"}
    assert Task.objects.count() == 0


def test_title_of_200_characters_is_accepted_and_trimmed(user_client: APIClient) -> None:
    title = "t" * 200
    response = user_client.post(LIST, {"title": f"  {title}\n"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == title
    assert Task.objects.get(pk=response.json()["id"]).title == title


def test_title_is_trimmed(user_client: APIClient) -> None:
    response = user_client.post(LIST, {"title": "   Water plants  "}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "Water plants"
    assert Task.objects.get().title == "Water plants"


def test_description_of_10000_characters_is_accepted(user_client: APIClient) -> None:
    description = "d" * 10_000
    response = user_client.post(LIST, {"title": "Long", "description": description}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["description"] == description
    assert Task.objects.get().description == description


def test_priority_names_are_the_only_accepted_values(user_client: APIClient) -> None:
    for name in ("low", "medium", "high"):
        response = user_client.post(LIST, {"title": name, "priority": name}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["priority"] == name
    stored = dict(Task.objects.values_list("title", "priority"))
    assert stored == {"low": Priority.LOW, "medium": Priority.MEDIUM, "high": Priority.HIGH}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": None}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": ["x"]}, "title"),
        ({"description": "d" * 10_001}, "description"),
        ({"status": "archived"}, "status"),
        ({"status": None}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"priority": 3}, "priority"),
        ({"due_date": "soon"}, "due_date"),
        # A valid field beside an invalid one is not written either.
        ({"title": "Valid new title", "status": "bogus"}, "status"),
        ({"status": "done", "priority": 1}, "priority"),
    ],
)
def test_patch_with_invalid_field_is_400_and_changes_nothing(
    user: User, user_client: APIClient, payload: dict[str, Any], field: str
) -> None:
    task = TaskFactory.create(owner=user, title="Original", due_date=datetime.date(2030, 1, 1))
    before = row(task)

    response = user_client.patch(detail(task.pk), payload, format="json")

    assert field in validation_errors(response)
    assert row(task) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "New", "status": "bogus"}, "status"),
        ({"title": "New", "priority": 2}, "priority"),
        ({"title": "New", "due_date": "2030-13-01"}, "due_date"),
        ({"title": None, "status": "done"}, "title"),
    ],
)
def test_put_with_invalid_field_is_400_and_changes_nothing(
    user: User, user_client: APIClient, payload: dict[str, Any], field: str
) -> None:
    task = TaskFactory.create(owner=user, title="Original")
    before = row(task)

    response = user_client.put(detail(task.pk), payload, format="json")

    assert field in validation_errors(response)
    assert row(task) == before


@pytest.mark.parametrize("body", ["[]", '"a string"', "42", "null"])
def test_a_body_that_is_not_an_object_is_400_and_writes_nothing(user_client: APIClient, body: str) -> None:
    response = user_client.post(LIST, body, content_type="application/json")

    assert_problem(response, 400)
    assert Task.objects.count() == 0


# --- Filters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("status", {"todo": TaskStatus.TODO, "in_progress": TaskStatus.IN_PROGRESS, "done": TaskStatus.DONE}),
        ("priority", {"low": Priority.LOW, "medium": Priority.MEDIUM, "high": Priority.HIGH}),
    ],
)
def test_filter_by_status_or_priority(user: User, user_client: APIClient, field: str, values: dict[str, Any]) -> None:
    tasks = {name: TaskFactory.create(owner=user, **{field: value}) for name, value in values.items()}

    for name, task in tasks.items():
        assert ids(user_client.get(LIST, {field: name})) == [task.pk]


def test_filters_combine(user: User, user_client: APIClient) -> None:
    match = TaskFactory.create(owner=user, status=TaskStatus.TODO, priority=Priority.HIGH)
    TaskFactory.create(owner=user, status=TaskStatus.TODO, priority=Priority.LOW)
    TaskFactory.create(owner=user, status=TaskStatus.DONE, priority=Priority.HIGH)

    assert ids(user_client.get(LIST, {"status": "todo", "priority": "high"})) == [match.pk]


def test_due_date_filters_are_inclusive(user: User, user_client: APIClient) -> None:
    early = TaskFactory.create(owner=user, due_date=datetime.date(2030, 1, 1))
    middle = TaskFactory.create(owner=user, due_date=datetime.date(2030, 1, 10))
    late = TaskFactory.create(owner=user, due_date=datetime.date(2030, 1, 20))
    TaskFactory.create(owner=user, due_date=None)

    before = user_client.get(LIST, {"due_before": "2030-01-10"})
    assert sorted(ids(before)) == sorted([early.pk, middle.pk])
    after = user_client.get(LIST, {"due_after": "2030-01-10"})
    assert sorted(ids(after)) == sorted([middle.pk, late.pk])
    both = user_client.get(LIST, {"due_after": "2030-01-10", "due_before": "2030-01-10"})
    assert ids(both) == [middle.pk]
    empty = user_client.get(LIST, {"due_after": "2030-01-11", "due_before": "2030-01-19"})
    assert ids(empty) == []


def test_search_matches_title_and_description_case_insensitively(user: User, user_client: APIClient) -> None:
    in_title = TaskFactory.create(owner=user, title="Buy MILK", description="at the shop")
    in_description = TaskFactory.create(owner=user, title="Groceries", description="eggs and Milk")
    TaskFactory.create(owner=user, title="Walk the dog", description="in the park")

    response = user_client.get(LIST, {"search": "milk"})

    assert sorted(ids(response)) == sorted([in_title.pk, in_description.pk])
    assert sorted(ids(user_client.get(LIST, {"search": "MiLk"}))) == sorted([in_title.pk, in_description.pk])
    assert ids(user_client.get(LIST, {"search": "bread"})) == []


def test_search_treats_wildcards_literally(user: User, user_client: APIClient) -> None:
    percent = TaskFactory.create(owner=user, title="Save 50% on rent", description="")
    TaskFactory.create(owner=user, title="Save 50 euros", description="")
    TaskFactory.create(owner=user, title="snake_case", description="")

    assert ids(user_client.get(LIST, {"search": "50%"})) == [percent.pk]
    assert ids(user_client.get(LIST, {"search": "%"})) == [percent.pk]


def test_search_stays_within_the_callers_tasks(user: User, other_user: User, user_client: APIClient) -> None:
    mine = TaskFactory.create(owner=user, title="milk for me")
    TaskFactory.create(owner=other_user, title="milk for them")

    assert ids(user_client.get(LIST, {"search": "milk"})) == [mine.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": "DONE"}, "status"),
        ({"priority": "urgent"}, "priority"),
        ({"priority": "2"}, "priority"),
        ({"due_before": "notadate"}, "due_before"),
        ({"due_after": "2030-02-30"}, "due_after"),
        ({"search": "s" * 201}, "search"),
    ],
)
def test_invalid_filter_values_are_400_json(
    user: User, user_client: APIClient, params: dict[str, str], field: str
) -> None:
    TaskFactory.create(owner=user)

    assert field in validation_errors(user_client.get(LIST, params))


# --- Ordering --------------------------------------------------------------------------------------


def _stamp(task: Task, **fields: Any) -> None:
    """Set columns the model fills in itself (`created_at`, `updated_at`) without going through save()."""
    Task.objects.filter(pk=task.pk).update(**fields)


def test_default_order_is_newest_first(user: User, user_client: APIClient) -> None:
    base = timezone.now() - datetime.timedelta(days=10)
    middle = TaskFactory.create(owner=user)
    oldest = TaskFactory.create(owner=user)
    newest = TaskFactory.create(owner=user)
    _stamp(oldest, created_at=base)
    _stamp(middle, created_at=base + datetime.timedelta(days=1))
    _stamp(newest, created_at=base + datetime.timedelta(days=2))

    assert ids(user_client.get(LIST)) == [newest.pk, middle.pk, oldest.pk]


def test_default_order_of_tasks_created_one_after_another(user_client: APIClient) -> None:
    created = [user_client.post(LIST, {"title": f"n{i}"}, format="json").json()["id"] for i in range(5)]

    assert ids(user_client.get(LIST)) == list(reversed(created))


def _three_tasks_in_order(user: User, field: str) -> list[Task]:
    """Three tasks whose `field` ascends in the order returned, created in a different order."""
    base = timezone.now() - datetime.timedelta(days=10)
    second = TaskFactory.create(owner=user)
    third = TaskFactory.create(owner=user)
    first = TaskFactory.create(owner=user)
    ordered = [first, second, third]
    for position, task in enumerate(ordered):
        if field in ("created_at", "updated_at"):
            _stamp(task, **{field: base + datetime.timedelta(days=position)})
        elif field == "due_date":
            _stamp(task, due_date=datetime.date(2030, 1, 1) + datetime.timedelta(days=position))
        elif field == "priority":
            _stamp(task, priority=[Priority.LOW, Priority.MEDIUM, Priority.HIGH][position])
        elif field == "title":
            _stamp(task, title=["apple", "banana", "cherry"][position])
    return ordered


@pytest.mark.parametrize("field", ["created_at", "updated_at", "due_date", "priority", "title"])
def test_ordering_by_each_field(user: User, user_client: APIClient, field: str) -> None:
    ordered = [task.pk for task in _three_tasks_in_order(user, field)]

    assert ids(user_client.get(LIST, {"ordering": field})) == ordered
    assert ids(user_client.get(LIST, {"ordering": f"-{field}"})) == list(reversed(ordered))


def test_priority_orders_low_medium_high_not_alphabetically(user: User, user_client: APIClient) -> None:
    TaskFactory.create(owner=user, priority=Priority.MEDIUM)
    TaskFactory.create(owner=user, priority=Priority.HIGH)
    TaskFactory.create(owner=user, priority=Priority.LOW)

    ascending = user_client.get(LIST, {"ordering": "priority"}).json()["results"]
    descending = user_client.get(LIST, {"ordering": "-priority"}).json()["results"]

    assert [item["priority"] for item in ascending] == ["low", "medium", "high"]
    assert [item["priority"] for item in descending] == ["high", "medium", "low"]


def test_ordering_by_due_date_keeps_tasks_without_one(user: User, user_client: APIClient) -> None:
    """Where undated tasks sort depends on the database; they are listed, and dated ones are in order."""
    later = TaskFactory.create(owner=user, due_date=datetime.date(2030, 6, 1))
    undated = TaskFactory.create(owner=user, due_date=None)
    sooner = TaskFactory.create(owner=user, due_date=datetime.date(2030, 1, 1))

    for ordering, dated in (("due_date", [sooner.pk, later.pk]), ("-due_date", [later.pk, sooner.pk])):
        listed = ids(user_client.get(LIST, {"ordering": ordering}))
        assert sorted(listed) == sorted([later.pk, undated.pk, sooner.pk])
        assert [pk for pk in listed if pk != undated.pk] == dated


def test_ordering_by_several_fields(user: User, user_client: APIClient) -> None:
    high_b = TaskFactory.create(owner=user, priority=Priority.HIGH, title="b")
    low = TaskFactory.create(owner=user, priority=Priority.LOW, title="z")
    high_a = TaskFactory.create(owner=user, priority=Priority.HIGH, title="a")

    assert ids(user_client.get(LIST, {"ordering": "-priority,title"})) == [high_a.pk, high_b.pk, low.pk]


def test_equal_values_keep_a_stable_order_across_pages(user: User, user_client: APIClient) -> None:
    tasks = TaskFactory.create_batch(7, owner=user, priority=Priority.MEDIUM)

    seen: list[int] = []
    for page in (1, 2, 3):
        seen += ids(user_client.get(LIST, {"ordering": "priority", "page_size": 3, "page": page}))

    assert sorted(seen) == sorted(task.pk for task in tasks)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("ordering", ["bogus", "-bogus", "owner__email", "description", "password"])
def test_unknown_ordering_field_is_ignored(user: User, user_client: APIClient, ordering: str) -> None:
    base = timezone.now() - datetime.timedelta(days=10)
    older = TaskFactory.create(owner=user, title="b", description="b")
    newer = TaskFactory.create(owner=user, title="a", description="a")
    _stamp(older, created_at=base)
    _stamp(newer, created_at=base + datetime.timedelta(days=1))

    assert ids(user_client.get(LIST, {"ordering": ordering})) == [newer.pk, older.pk]


# --- Pagination ------------------------------------------------------------------------------------


def test_default_page_holds_20_tasks(user: User, user_client: APIClient) -> None:
    tasks = TaskFactory.create_batch(25, owner=user)

    first = user_client.get(LIST)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 25
    assert len(body["results"]) == 20
    assert body["previous"] is None
    assert "page=2" in body["next"]

    second = user_client.get(body["next"])
    assert second.status_code == 200
    second_body = second.json()
    assert second_body["count"] == 25
    assert len(second_body["results"]) == 5
    assert second_body["next"] is None
    assert second_body["previous"] is not None

    listed = [item["id"] for item in body["results"] + second_body["results"]]
    assert sorted(listed) == sorted(task.pk for task in tasks)


def test_empty_list_is_one_empty_page(user_client: APIClient) -> None:
    response = user_client.get(LIST)

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_page_size_parameter(user: User, user_client: APIClient) -> None:
    TaskFactory.create_batch(12, owner=user)

    response = user_client.get(LIST, {"page_size": 5})

    body = response.json()
    assert body["count"] == 12
    assert len(body["results"]) == 5
    assert "page_size=5" in body["next"]
    third = user_client.get(LIST, {"page_size": 5, "page": 3}).json()
    assert len(third["results"]) == 2
    assert third["next"] is None


def test_page_size_is_capped_at_100(user: User, user_client: APIClient) -> None:
    TaskFactory.create_batch(105, owner=user)

    body = user_client.get(LIST, {"page_size": 1000}).json()

    assert body["count"] == 105
    assert len(body["results"]) == 100
    assert body["next"] is not None


def test_filters_and_ordering_survive_in_the_next_link(user: User, user_client: APIClient) -> None:
    TaskFactory.create_batch(3, owner=user, status=TaskStatus.DONE)
    TaskFactory.create_batch(2, owner=user, status=TaskStatus.TODO)

    first = user_client.get(LIST, {"status": "done", "ordering": "title", "page_size": "2"}).json()
    assert first["count"] == 3
    second = user_client.get(first["next"]).json()

    assert second["count"] == 3
    assert len(second["results"]) == 1
    assert all(item["status"] == "done" for item in first["results"] + second["results"])


@pytest.mark.parametrize("page", ["3", "0", "-1", "abc", "99999999999999999999"])
def test_page_out_of_range_is_json_404(user: User, user_client: APIClient, page: str) -> None:
    TaskFactory.create_batch(3, owner=user)

    body = assert_problem(user_client.get(LIST, {"page": page, "page_size": "2"}), 404)
    assert body["code"] == "not_found"


def test_second_page_of_an_empty_list_is_404(user_client: APIClient) -> None:
    assert_problem(user_client.get(LIST, {"page": 2}), 404)


def test_admin_pages_span_every_owner(admin_client: APIClient) -> None:
    for _ in range(3):
        TaskFactory.create_batch(10, owner=UserFactory.create())

    body = admin_client.get(LIST).json()

    assert body["count"] == 30
    assert len(body["results"]) == 20
