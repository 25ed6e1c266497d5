"""`Idempotency-Key` on creates: a repeated POST gets the first answer and writes nothing."""

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import issue_token_pair
from common.jobs import maintenance
from common.models import IdempotencyKey
from tasks.models import Task
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.problem_helpers import assert_problem

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/tasks/"
USERS = "/api/v1/users/"


def create(client: APIClient, body: dict[str, Any], key: str | None = "key-1", url: str = TASKS) -> Any:
    headers: dict[str, Any] = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(url, body, format="json", **headers)


def test_a_repeat_gets_the_first_answer_and_writes_nothing(user_client: APIClient, user: User) -> None:
    first = create(user_client, {"title": "Once"})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    again = create(user_client, {"title": "Once"})
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Task.objects.filter(owner=user).count() == 1


def test_the_same_body_in_another_key_order_is_the_same_request(user_client: APIClient, user: User) -> None:
    create(user_client, {"title": "Once", "priority": "high"})
    again = user_client.post(
        TASKS, '{"priority": "high", "title": "Once"}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="key-1"
    )
    assert again["Idempotent-Replayed"] == "true"
    assert Task.objects.filter(owner=user).count() == 1


def test_the_same_key_with_another_body_is_422_and_writes_nothing(user_client: APIClient, user: User) -> None:
    create(user_client, {"title": "Once"})
    body = assert_problem(create(user_client, {"title": "Something else"}), 422)
    assert body["code"] == "idempotency_key_reused"
    assert list(Task.objects.filter(owner=user).values_list("title", flat=True)) == ["Once"]


def test_a_repeat_while_the_first_is_running_is_409(user_client: APIClient, user: User) -> None:
    create(user_client, {"title": "Once"})
    IdempotencyKey.objects.filter(user=user).update(status_code=None, content="")  # as while it runs
    body = assert_problem(create(user_client, {"title": "Once"}), 409)
    assert body["code"] == "idempotency_key_in_use"
    assert Task.objects.filter(owner=user).count() == 1


def test_keys_are_per_user(user_client: APIClient, client_for: Any) -> None:
    create(user_client, {"title": "Mine"})
    theirs = create(client_for(UserFactory.create()), {"title": "Mine"})
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert Task.objects.count() == 2


def test_without_a_key_every_post_creates(user_client: APIClient, user: User) -> None:
    create(user_client, {"title": "Twice"}, key=None)
    create(user_client, {"title": "Twice"}, key=None)
    assert Task.objects.filter(owner=user).count() == 2


@pytest.mark.parametrize("key", ["", "has space", "é", "x" * 256, "tab\there"])
def test_a_malformed_key_is_400_and_writes_nothing(user_client: APIClient, key: str) -> None:
    body = assert_problem(create(user_client, {"title": "Nope"}, key=key), 400)
    assert "Idempotency-Key" in body["errors"]
    assert Task.objects.count() == 0


def test_the_longest_key_is_accepted(user_client: APIClient) -> None:
    assert create(user_client, {"title": "Long key"}, key="~" * 255).status_code == 201


def test_a_refused_create_frees_its_key_for_the_corrected_request(user_client: APIClient, user: User) -> None:
    assert_problem(create(user_client, {"title": ""}), 400)
    corrected = create(user_client, {"title": "Fixed"})
    assert corrected.status_code == 201
    assert "Idempotent-Replayed" not in corrected


def test_an_expired_key_is_a_new_request_and_is_pruned(user_client: APIClient, user: User, settings: Settings) -> None:
    create(user_client, {"title": "Old"})
    expired = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1)
    IdempotencyKey.objects.filter(user=user).update(created_at=expired)
    fresh = create(user_client, {"title": "Old"})
    assert "Idempotent-Replayed" not in fresh
    assert Task.objects.filter(owner=user).count() == 2

    IdempotencyKey.objects.filter(user=user).update(created_at=expired)
    assert "Pruned 1 expired idempotency keys" in maintenance.call()["idempotency_keys"]
    assert not IdempotencyKey.objects.exists()


def test_user_creation_is_idempotent_too(
    admin_client: APIClient, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    body = {"email": "new@example.com", "password": DEFAULT_PASSWORD, "full_name": "New"}
    with django_capture_on_commit_callbacks(execute=True):
        first = create(admin_client, body, url=USERS)
        again = create(admin_client, body, url=USERS)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert User.objects.filter(email="new@example.com").count() == 1
    assert len(mailoutbox) == 1  # one welcome mail


def test_the_same_key_on_another_endpoint_is_another_request(admin_client: APIClient) -> None:
    create(admin_client, {"title": "A task"})
    assert_problem(create(admin_client, {"title": "A task"}, url=USERS), 422)


def test_a_create_with_a_key_costs_at_most_two_more_statements(user_client: APIClient) -> None:
    def statements(key: str | None) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert create(user_client, {"title": "Counted"}, key=key).status_code == 201
        return len(queries)

    plain = statements(None)
    assert statements("counted-1") <= plain + 2  # the claim, the kept answer
    assert statements("counted-1") <= plain + 2  # the replay: the refused claim, the answer read


@pytest.mark.django_db(transaction=True)
def test_parallel_repeats_write_exactly_once(live_server: Any) -> None:
    """8 POSTs with one key at once, each on its own connection: one task, and one answer."""
    user = UserFactory.create()
    token = issue_token_pair(user).access_token
    parallel = 8
    start = threading.Barrier(parallel)

    def post(_: int) -> tuple[int, Any]:
        request = urllib.request.Request(  # noqa: S310 (the test's own live server)
            f"{live_server.url}{TASKS}",
            data=json.dumps({"title": "Exactly once"}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": "parallel-1",
            },
        )
        start.wait(timeout=10)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), json.loads(error.read())

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        answers = list(pool.map(post, range(parallel)))

    assert Task.objects.filter(owner=user).count() == 1
    statuses = {status for status, _ in answers}
    assert statuses <= {201, 409}
    created = [body for status, body in answers if status == 201]
    assert created
    assert all(body["id"] == created[0]["id"] for body in created)
