"""REST clients can be generated from the committed OpenAPI schema, and work.

openapi-python-client turns `openapi.yaml` into a typed Python client; the walk-through of the
earlier template then runs through that client against a live server.
"""

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.conf import settings
from pytest_django.fixtures import Settings

from tests.factories import DEFAULT_PASSWORD, AdminFactory

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "tasks_api_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    workdir = tmp_path_factory.mktemp("client")
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(  # noqa: S603 (the generator from our own environment)
        [
            str(generator),
            "generate",
            "--path",
            str(ROOT / "openapi.yaml"),
            "--config",
            str(ROOT / "openapi-client.yaml"),
            "--output-path",
            str(workdir / PACKAGE),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = (result.stdout + result.stderr).lower()
    assert "warning" not in output, output
    assert "error" not in output, output
    sys.path.insert(0, str(workdir))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(workdir))
        for name in [module for module in sys.modules if module.startswith(PACKAGE)]:
            del sys.modules[name]


def load(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.mark.django_db(transaction=True)
def test_the_walkthrough_runs_through_a_generated_typed_client(
    generated: ModuleType, live_server: Any, settings: Settings
) -> None:
    admin = AdminFactory.create()
    client_module = load("client")
    models = load("models")
    login = load("api.auth.api_v1_auth_login_create")
    create_user = load("api.users.api_v1_users_create")
    create_task = load("api.tasks.api_v1_tasks_create")
    list_tasks = load("api.tasks.api_v1_tasks_list")

    anonymous = client_module.Client(base_url=live_server.url, raise_on_unexpected_status=True)
    admin_tokens = login.sync(
        client=anonymous, body=models.LoginFormRequest(username=admin.email, password=DEFAULT_PASSWORD)
    )
    assert isinstance(admin_tokens, models.TokenPair)
    assert admin_tokens.token_type == "bearer"

    as_admin = client_module.AuthenticatedClient(base_url=live_server.url, token=admin_tokens.access_token)
    created = create_user.sync(
        client=as_admin,
        body=models.UserCreateRequest(email="user1@local.com", password="user123456", role=models.RoleEnum.USER),
    )
    assert isinstance(created, models.User)
    assert created.email == "user1@local.com"

    user_tokens = login.sync(
        client=anonymous, body=models.LoginRequest(username="user1@local.com", password="user123456")
    )
    as_user = client_module.AuthenticatedClient(base_url=live_server.url, token=user_tokens.access_token)
    task = create_task.sync(client=as_user, body=models.TaskRequest(title="My first task"))
    assert isinstance(task, models.Task)
    assert task.status == models.TaskStatusEnum.TODO

    page = list_tasks.sync(client=as_user)
    assert isinstance(page, models.PaginatedTaskList)
    assert page.count == 1
    assert [item.title for item in page.results] == ["My first task"]
    assert isinstance(page.results[0], models.Task)


def test_the_committed_schema_is_what_the_code_generates() -> None:
    """`make schema` rewrites openapi.yaml; CI fails when code and committed file differ."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    committed = (ROOT / "openapi.yaml").read_text()
    assert out.getvalue() == committed, "openapi.yaml is out of date: run `make schema` and commit it"
    assert str(settings.SPECTACULAR_SETTINGS["VERSION"]) in committed
