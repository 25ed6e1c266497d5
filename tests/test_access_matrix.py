"""Who may call what: every endpoint for an anonymous caller, the owner, another user and an admin."""

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tasks.models import Task
from tests.factories import AdminFactory, TaskFactory, UserFactory

ANON, OWNER, OTHER, ADMIN = "anonymous", "owner", "other user", "admin"

# (method, path, body, {caller: expected status}). `{user}` is the owner's id, `{task}` the owner's task.
MATRIX: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("get", "/api/v1/users/me", None, {ANON: 401, OWNER: 200, OTHER: 200, ADMIN: 200}),
    ("patch", "/api/v1/users/me", {"full_name": "New"}, {ANON: 401, OWNER: 200, OTHER: 200, ADMIN: 200}),
    (
        "post",
        "/api/v1/users/me/password",
        {"current_password": "wrong", "new_password": "another-passphrase-9"},
        {ANON: 401, OWNER: 400, OTHER: 400, ADMIN: 400},
    ),
    ("get", "/api/v1/users/", None, {ANON: 401, OWNER: 403, OTHER: 403, ADMIN: 200}),
    (
        "post",
        "/api/v1/users/",
        {"email": "fresh@example.com", "password": "a-fresh-passphrase-1", "role": "user"},
        {ANON: 401, OWNER: 403, OTHER: 403, ADMIN: 201},
    ),
    ("get", "/api/v1/users/{user}/", None, {ANON: 401, OWNER: 403, OTHER: 403, ADMIN: 200}),
    ("patch", "/api/v1/users/{user}/", {"full_name": "Renamed"}, {ANON: 401, OWNER: 403, OTHER: 403, ADMIN: 200}),
    ("delete", "/api/v1/users/{user}/", None, {ANON: 401, OWNER: 403, OTHER: 403, ADMIN: 204}),
    ("get", "/api/v1/tasks/", None, {ANON: 401, OWNER: 200, OTHER: 200, ADMIN: 200}),
    ("post", "/api/v1/tasks/", {"title": "Mine"}, {ANON: 401, OWNER: 201, OTHER: 201, ADMIN: 201}),
    ("get", "/api/v1/tasks/{task}/", None, {ANON: 401, OWNER: 200, OTHER: 404, ADMIN: 200}),
    ("put", "/api/v1/tasks/{task}/", {"title": "Replaced"}, {ANON: 401, OWNER: 200, OTHER: 404, ADMIN: 200}),
    ("patch", "/api/v1/tasks/{task}/", {"status": "done"}, {ANON: 401, OWNER: 200, OTHER: 404, ADMIN: 200}),
    ("delete", "/api/v1/tasks/{task}/", None, {ANON: 401, OWNER: 204, OTHER: 404, ADMIN: 204}),
    ("post", "/api/v1/auth/refresh", {"refresh_token": "not-a-token"}, {ANON: 401, OWNER: 401, OTHER: 401, ADMIN: 401}),
    ("post", "/api/v1/auth/logout", {"refresh_token": "not-a-token"}, {ANON: 401, OWNER: 401, OTHER: 401, ADMIN: 401}),
    ("get", "/health/live", None, {ANON: 200, OWNER: 200, OTHER: 200, ADMIN: 200}),
    ("get", "/health/ready", None, {ANON: 200, OWNER: 200, OTHER: 200, ADMIN: 200}),
    ("get", "/api/schema/", None, {ANON: 200, OWNER: 200, OTHER: 200, ADMIN: 200}),
]

CASES = [
    pytest.param(method, path, body, caller, status, id=f"{method.upper()} {path} as {caller}")
    for method, path, body, expected in MATRIX
    for caller, status in expected.items()
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "caller", "status"), CASES)
def test_access(
    client_for: Callable[[User], APIClient],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    caller: str,
    status: int,
) -> None:
    owner = UserFactory.create()
    other = UserFactory.create()
    admin = AdminFactory.create()
    AdminFactory.create()  # a second admin, so that admin-only changes are not refused as "last admin"
    task = TaskFactory.create(owner=owner, title="Owner's task")
    clients = {ANON: APIClient(), OWNER: client_for(owner), OTHER: client_for(other), ADMIN: client_for(admin)}
    url = path.format(user=owner.pk, task=task.pk)

    response = getattr(clients[caller], method)(url, body, format="json")

    assert response.status_code == status, response.content
    if status >= 400:
        assert "detail" in response.json()
    if caller == OTHER and "{task}" in path:
        # Refused requests change nothing: the owner's task is exactly as it was.
        assert Task.objects.filter(pk=task.pk, title="Owner's task", status="todo").exists()
