"""Tasks answer ETags; If-None-Match saves a download, If-Match stops a lost update (RFC 9110 section 13)."""

import json
import re
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import issue_token_pair
from common.exceptions import PreconditionFailed
from tasks import services
from tasks.models import Task, TaskStatus
from tests.factories import TaskFactory, UserFactory
from tests.problem_helpers import assert_problem

pytestmark = pytest.mark.django_db


def detail(task: Task) -> str:
    return f"/api/v1/tasks/{task.pk}/"


@pytest.fixture
def task(user: User) -> Task:
    return TaskFactory.create(owner=user, title="Before")


def etag_of(client: APIClient, task: Task) -> str:
    response = client.get(detail(task))
    assert response.status_code == 200
    return str(response["ETag"])


def test_a_task_has_a_strong_etag_that_changes_with_each_write(user_client: APIClient, task: Task) -> None:
    first = etag_of(user_client, task)
    assert re.fullmatch(r'"[^"]+"', first)  # strong: no W/ prefix
    assert etag_of(user_client, task) == first  # reading changes nothing
    changed = user_client.patch(detail(task), {"title": "After"})
    assert changed.status_code == 200
    assert changed["ETag"] != first
    assert etag_of(user_client, task) == changed["ETag"]


@pytest.mark.parametrize("header", ["{etag}", "W/{etag}", '"999", {etag}', "*"])
def test_a_current_if_none_match_answers_304_without_a_body(user_client: APIClient, task: Task, header: str) -> None:
    etag = etag_of(user_client, task)
    response = user_client.get(detail(task), HTTP_IF_NONE_MATCH=header.format(etag=etag))
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


def test_a_stale_if_none_match_answers_the_task(user_client: APIClient, task: Task) -> None:
    stale = etag_of(user_client, task)
    user_client.patch(detail(task), {"title": "After"})
    response = user_client.get(detail(task), HTTP_IF_NONE_MATCH=stale)
    assert response.status_code == 200
    assert response.json()["title"] == "After"


@pytest.mark.parametrize(
    ("method", "body"),
    [("patch", {"title": "Mine"}), ("put", {"title": "Mine", "status": "done"}), ("delete", None)],
)
def test_if_match_with_the_current_etag_writes(user_client: APIClient, task: Task, method: str, body: Any) -> None:
    response = getattr(user_client, method)(detail(task), body, HTTP_IF_MATCH=etag_of(user_client, task))
    assert response.status_code in (200, 204), response.content
    if method == "delete":
        assert not Task.objects.filter(pk=task.pk).exists()
    else:
        assert Task.objects.get(pk=task.pk).title == "Mine"


@pytest.mark.parametrize(
    ("method", "body"),
    [("patch", {"title": "Mine"}), ("put", {"title": "Mine", "status": "done"}), ("delete", None)],
)
def test_if_match_with_a_stale_etag_is_412_and_writes_nothing(
    user_client: APIClient, task: Task, method: str, body: Any
) -> None:
    stale = etag_of(user_client, task)
    user_client.patch(detail(task), {"title": "Theirs"})  # someone else's change
    before = Task.objects.filter(pk=task.pk).values().get()
    response = getattr(user_client, method)(detail(task), body, HTTP_IF_MATCH=stale)
    assert assert_problem(response, 412)["code"] == "precondition_failed"
    assert Task.objects.filter(pk=task.pk).values().get() == before


def test_a_weak_etag_never_satisfies_if_match(user_client: APIClient, task: Task) -> None:
    weak = f"W/{etag_of(user_client, task)}"
    assert_problem(user_client.patch(detail(task), {"title": "Mine"}, HTTP_IF_MATCH=weak), 412)
    assert Task.objects.get(pk=task.pk).title == "Before"


def test_without_if_match_updates_work_as_before(user_client: APIClient, task: Task) -> None:
    response = user_client.patch(detail(task), {"status": "done"})
    assert response.status_code == 200
    assert Task.objects.get(pk=task.pk).status == TaskStatus.DONE


@pytest.mark.parametrize(("method", "body"), [("patch", {"title": "x"}), ("put", {"title": "x"}), ("delete", None)])
def test_require_if_match_refuses_unconditional_writes_with_428(
    user_client: APIClient, task: Task, settings: Settings, method: str, body: Any
) -> None:
    settings.REQUIRE_IF_MATCH = True
    response = getattr(user_client, method)(detail(task), body)
    assert assert_problem(response, 428)["code"] == "precondition_required"
    assert Task.objects.get(pk=task.pk).title == "Before"
    allowed = getattr(user_client, method)(detail(task), body, HTTP_IF_MATCH=etag_of(user_client, task))
    assert allowed.status_code in (200, 204)


def test_a_change_made_elsewhere_bumps_the_version_too(user_client: APIClient, task: Task) -> None:
    """The admin site saves through the model: its edits must change the ETag as well."""
    etag = etag_of(user_client, task)
    task.title = "Edited in the admin"
    task.save()
    assert task.version == Task.objects.get(pk=task.pk).version  # the instance knows its new version
    assert etag_of(user_client, task) != etag


def test_a_conditional_get_costs_no_more_queries_than_a_plain_one(
    user_client: APIClient, task: Task, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    etag = etag_of(user_client, task)
    with django_assert_num_queries(2):  # the caller, the task
        assert user_client.get(detail(task)).status_code == 200
    with django_assert_num_queries(2):
        assert user_client.get(detail(task), HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_conditional_update_costs_no_more_queries_than_a_plain_one(
    user_client: APIClient, task: Task, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    etag = etag_of(user_client, task)
    with django_assert_num_queries(3):  # the caller, the task, the conditional UPDATE
        assert user_client.patch(detail(task), {"title": "x"}, HTTP_IF_MATCH=etag).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_parallel_updates_with_the_same_if_match_let_exactly_one_through(live_server: Any) -> None:
    """8 PATCHes at once, each on its own connection, all holding the same ETag: one wins."""
    user = UserFactory.create()
    task = TaskFactory.create(owner=user, title="Before")
    token = issue_token_pair(user).access_token
    etag = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get(detail(task))["ETag"]
    parallel = 8
    start = threading.Barrier(parallel)

    def patch(n: int) -> int:
        request = urllib.request.Request(  # noqa: S310 (the test's own live server)
            f"{live_server.url}{detail(task)}",
            data=json.dumps({"title": f"Writer {n}"}).encode(),
            method="PATCH",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", "If-Match": etag},
        )
        start.wait(timeout=10)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        statuses = sorted(pool.map(patch, range(parallel)))

    assert statuses == [200] + [412] * (parallel - 1)
    fresh = Task.objects.get(pk=task.pk)
    assert fresh.title.startswith("Writer ")
    assert fresh.version == task.version + 1


def test_task_update_with_a_stale_version_writes_nothing(task: Task) -> None:
    stale = task.version
    services.task_update(task=Task.objects.get(pk=task.pk), title="First")
    with pytest.raises(PreconditionFailed):
        services.task_update(task=Task.objects.get(pk=task.pk), title="Second", if_version=stale)
    assert Task.objects.get(pk=task.pk).title == "First"
    fresh = Task.objects.get(pk=task.pk)
    current = fresh.version
    done = services.task_update(task=fresh, status=TaskStatus.DONE, if_version=current)
    assert done.version == current + 1 == Task.objects.get(pk=task.pk).version
    assert Task.objects.get(pk=task.pk).completed_at is not None


def test_task_delete_with_a_stale_version_keeps_the_task(task: Task) -> None:
    with pytest.raises(PreconditionFailed):
        services.task_delete(task=task, if_version=task.version + 1)
    assert Task.objects.filter(pk=task.pk).exists()
    services.task_delete(task=task, if_version=task.version)
    assert not Task.objects.filter(pk=task.pk).exists()
