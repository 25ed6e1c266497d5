"""Every answer under /api/ is JSON, bad input is a 4xx, and a refused request writes nothing."""

import io
import json

import pytest
from django.core.signals import request_finished, request_started
from django.db import InterfaceError, OperationalError, close_old_connections
from django.http import HttpResponse
from django.test import Client, RequestFactory
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import issue_token_pair
from common.middleware import JSONErrorsForAPIMiddleware
from common.problem_types import PROBLEM_TYPES
from tasks.models import Task
from tests.factories import TaskFactory
from tests.problem_helpers import assert_problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path", ["/api/", "/api/v1/", "/api/v1/nope", "/api/v2/tasks/", "/api/v1/tasks/abc/", "/api/v1/users/me/extra"]
)
def test_unknown_paths_under_api_answer_json_404(api_client: APIClient, path: str) -> None:
    assert_problem(api_client.get(path), 404)


def test_unknown_paths_answer_json_404_with_debug_on(api_client: APIClient, settings: Settings) -> None:
    settings.DEBUG = True
    assert_problem(api_client.get("/api/v1/does-not-exist"), 404)


def test_method_not_allowed_is_json(user_client: APIClient) -> None:
    body = assert_problem(user_client.put("/api/v1/users/me", {}, format="json"), 405)
    assert body["code"] == "method_not_allowed"


def test_malformed_json_is_400_and_writes_nothing(user_client: APIClient) -> None:
    response = user_client.post("/api/v1/tasks/", '{"title": "x",', content_type="application/json")
    body = assert_problem(response, 400)
    assert body["code"] == "parse_error"
    assert Task.objects.count() == 0


def test_unsupported_content_type_is_415(user_client: APIClient) -> None:
    response = user_client.post("/api/v1/tasks/", "<task/>", content_type="application/xml")
    assert_problem(response, 415)


def test_body_over_the_size_limit_is_413_and_writes_nothing(user_client: APIClient, settings: Settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = user_client.post("/api/v1/tasks/", {"title": "big", "description": "x" * 5000}, format="json")
    body = assert_problem(response, 413)
    assert body["code"] == "payload_too_large"
    assert Task.objects.count() == 0


def test_form_body_over_the_size_limit_is_413(api_client: APIClient, settings: Settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api_client.post(
        "/api/v1/auth/login",
        "username=a@b.c&password=" + "x" * 5000,
        content_type="application/x-www-form-urlencoded",
    )
    assert_problem(response, 413)


@pytest.mark.parametrize("escape", [r"\ud800", r"\udfff", r"x\ud83dy"])
def test_lone_surrogates_are_refused_and_write_nothing(user_client: APIClient, escape: str) -> None:
    response = user_client.post("/api/v1/tasks/", f'{{"title": "{escape}"}}', content_type="application/json")
    assert_problem(response, 400)
    assert Task.objects.count() == 0


def test_lone_surrogate_in_an_update_changes_nothing(user_client: APIClient, user: User) -> None:
    task = TaskFactory.create(owner=user, title="kept")
    response = user_client.patch(f"/api/v1/tasks/{task.pk}/", '{"title": "\\udc00"}', content_type="application/json")
    assert_problem(response, 400)
    task.refresh_from_db()
    assert task.title == "kept"


def test_valid_surrogate_pairs_are_stored(user_client: APIClient) -> None:
    response = user_client.post("/api/v1/tasks/", '{"title": "\\ud83d\\ude00 done"}', content_type="application/json")
    assert response.status_code == 201
    assert Task.objects.get().title == "\N{GRINNING FACE} done"


@pytest.mark.parametrize("field", ["title", "description"])
def test_nul_characters_are_refused(user_client: APIClient, field: str) -> None:
    body = {"title": "ok", field: "a\u0000b"}
    response = user_client.post("/api/v1/tasks/", body, format="json")
    error = assert_problem(response, 400)
    assert field in error["errors"]
    assert Task.objects.count() == 0


def test_nul_in_a_search_query_is_400_not_500(user_client: APIClient) -> None:
    assert_problem(user_client.get("/api/v1/tasks/", {"search": "a\x00b"}), 400)


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null", "[{}]"])
def test_json_that_is_not_an_object_is_400(user_client: APIClient, body: str) -> None:
    assert_problem(user_client.post("/api/v1/tasks/", body, content_type="application/json"), 400)
    assert Task.objects.count() == 0


def test_validation_errors_name_each_field(user_client: APIClient) -> None:
    response = user_client.post("/api/v1/tasks/", {"title": "", "status": "later", "due_date": "soon"}, format="json")
    body = assert_problem(response, 400)
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"title", "status", "due_date"}
    assert "title" in body["detail"]


def test_unexpected_errors_are_json_500_without_traceback(
    user_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("tasks.views.TaskViewSet.list", explode)
    client = user_client
    client.raise_request_exception = False
    response = client.get("/api/v1/tasks/")
    body = assert_problem(response, 500)
    assert "secret internal detail" not in response.content.decode()
    assert body["code"] == "server_error"


def test_unexpected_errors_are_json_even_with_debug_on(
    user_client: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    settings.DEBUG = True

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("tasks.views.TaskViewSet.list", explode)
    user_client.raise_request_exception = False
    response = user_client.get("/api/v1/tasks/")
    assert_problem(response, 500)
    assert b"Traceback" not in response.content


def test_disallowed_host_under_api_is_json_400() -> None:
    client = Client(HTTP_HOST="evil.example")
    response = client.get("/api/v1/tasks/")
    assert_problem(response, 400)


def test_pages_outside_the_api_keep_django_error_pages() -> None:
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_declared_body_over_the_limit_is_refused_before_reading(api_client: APIClient, settings: Settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api_client.post(
        "/api/v1/auth/login",
        {"username": "a@b.c", "password": "x", "file": ("x" * 5000)},
        format="multipart",
    )
    body = assert_problem(response, 413)
    assert body["code"] == "payload_too_large"


@pytest.mark.parametrize("error", [OperationalError("connection refused"), InterfaceError("connection already closed")])
def test_an_unreachable_database_is_a_json_503_to_retry(
    user_client: APIClient, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("tasks.views.TaskViewSet.list", unreachable)
    response = user_client.get("/api/v1/tasks/")
    body = assert_problem(response, 503)
    assert body["code"] == "service_unavailable"
    assert response["Retry-After"] == "5"


def test_an_unreachable_database_outside_a_drf_view_is_a_json_503() -> None:
    """Errors raised outside DRF's own handling (in Django views, say) reach the middleware."""
    request = RequestFactory().get("/api/v1/anything")
    middleware = JSONErrorsForAPIMiddleware(lambda request: HttpResponse())
    response = middleware.process_exception(request, OperationalError("connection refused"))
    assert response is not None
    assert response.status_code == 503
    assert json.loads(response.content)["code"] == "service_unavailable"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_paths_are_json_404_for_every_method_even_with_csrf_checks(method: str) -> None:
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/api/v1/tasks/abc/")
    assert_problem(response, 404)


def test_errors_are_problem_details_whose_type_describes_the_code(api_client: APIClient) -> None:
    body = assert_problem(api_client.get("/api/v1/tasks/"), 401)
    assert body["title"] == "Authentication required"
    described = api_client.get(body["type"])
    assert described.status_code == 200
    assert described.json()["code"] == body["code"] == "not_authenticated"
    assert described.json()["title"] == body["title"]


def test_every_problem_type_is_described_and_unknown_ones_are_404(api_client: APIClient) -> None:
    for code, problem in PROBLEM_TYPES.items():
        described = api_client.get(f"/api/problems/{code}").json()
        assert described == {
            "type": f"/api/problems/{code}",
            "code": code,
            "title": problem.title,
            "description": problem.description,
        }
    assert_problem(api_client.get("/api/problems/no_such_code"), 404)


def test_validation_problems_keep_each_failing_field(user_client: APIClient) -> None:
    body = assert_problem(user_client.post("/api/v1/tasks/", {"title": ""}), 400)
    assert body["title"] == "Invalid input"
    assert set(body["errors"]) == {"title"}


def call_wsgi(path: str, method: str, body: bytes, headers: dict[str, str]) -> tuple[str, bytes]:
    """The app as gunicorn calls it with a chunked body: decoded in `wsgi.input`, no CONTENT_LENGTH."""
    from wsgiref.util import setup_testing_defaults

    from config.wsgi import application

    environ: dict[str, object] = {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_HOST": "testserver"}
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()})
    environ["CONTENT_TYPE"] = headers.get("Content-Type", "application/json")
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    statuses: list[str] = []
    # As Django's test client does: the test's database connection must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
        body = b"".join(response)
        response.close()  # type: ignore[attr-defined]
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return statuses[0], body


def test_a_chunked_body_is_read_not_taken_for_empty(user: User) -> None:
    """Without Content-Length, Django reads no body at all: a PATCH answered 200 and changed nothing."""
    task = TaskFactory.create(owner=user, title="before")
    bearer = {"Authorization": f"Bearer {issue_token_pair(user).access_token}"}

    status, _ = call_wsgi(f"/api/v1/tasks/{task.pk}/", "PATCH", b'{"title": "after"}', bearer)
    assert status.startswith("200")
    task.refresh_from_db()
    assert task.title == "after"

    status, _ = call_wsgi("/api/v1/tasks/", "POST", b'{"title": "chunked"}', bearer)
    assert status.startswith("201")
    assert Task.objects.filter(title="chunked", owner=user).exists()


def test_a_chunked_body_over_the_size_limit_is_413(user: User, settings: Settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    bearer = {"Authorization": f"Bearer {issue_token_pair(user).access_token}"}
    status, body = call_wsgi("/api/v1/tasks/", "POST", json.dumps({"title": "x" * 5000}).encode(), bearer)
    assert status.startswith("413")
    assert json.loads(body)["code"] == "payload_too_large"
    assert Task.objects.count() == 0


def test_an_unreachable_database_on_the_admin_site_is_a_503_to_retry(
    admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django's last-resort handler decides it as the API's handlers do: a 503 with Retry-After, not a 500."""

    def unreachable(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    monkeypatch.setattr("django.contrib.admin.sites.AdminSite.each_context", unreachable)
    response = client.get("/admin/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")


def test_other_errors_on_the_admin_site_stay_500(admin_user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    monkeypatch.setattr("django.contrib.admin.sites.AdminSite.each_context", explode)
    assert client.get("/admin/").status_code == 500
