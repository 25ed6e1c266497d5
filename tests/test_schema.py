"""The OpenAPI schema is valid and complete, and the docs pages load nothing from outside the app."""

import re
from io import StringIO
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from pytest_django.fixtures import Settings

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    paths: dict[str, dict[str, dict[str, Any]]] = schema["paths"]
    return [(path, method, op) for path, item in paths.items() for method, op in item.items() if method in HTTP_METHODS]


def test_schema_is_valid_openapi_3_without_warnings(schema: dict[str, Any]) -> None:
    assert str(schema["openapi"]).startswith("3.")


def test_every_endpoint_of_the_contract_is_documented(schema: dict[str, Any]) -> None:
    documented = {(path.rstrip("/"), method) for path, method, _ in operations(schema)}
    expected = {
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/users/me", "get"),
        ("/api/v1/users/me", "patch"),
        ("/api/v1/users/me/password", "post"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{id}", "get"),
        ("/api/v1/users/{id}", "patch"),
        ("/api/v1/users/{id}", "delete"),
        ("/api/v1/tasks", "get"),
        ("/api/v1/tasks", "post"),
        ("/api/v1/tasks/{id}", "get"),
        ("/api/v1/tasks/{id}", "put"),
        ("/api/v1/tasks/{id}", "patch"),
        ("/api/v1/tasks/{id}", "delete"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
    }
    assert expected <= documented


def test_every_operation_documents_its_errors(schema: dict[str, Any]) -> None:
    for path, method, op in operations(schema):
        responses: dict[str, Any] = op["responses"]
        codes = set(responses)
        assert any(code.startswith("2") for code in codes), (path, method)
        if path.startswith("/health"):
            continue
        assert any(code.startswith("4") for code in codes), (path, method, codes)
        if op.get("requestBody"):
            assert "400" in codes, (path, method)
        if "{id}" in path:
            assert "404" in codes, (path, method)
        if op.get("security"):
            assert "401" in codes, (path, method)


def test_every_error_is_documented_as_a_problem_detail(schema: dict[str, Any]) -> None:
    for path, method, op in operations(schema):
        for code, response in op["responses"].items():
            if code >= "400" and not path.startswith("/health"):
                assert set(response["content"]) == {"application/problem+json"}, (path, method, code)
    problem = schema["components"]["schemas"]["Error"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])


def test_login_documents_the_form_and_json_bodies_it_accepts(schema: dict[str, Any]) -> None:
    login = next(op for path, method, op in operations(schema) if path.rstrip("/") == "/api/v1/auth/login")
    content = login["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(content)


def test_bearer_authentication_is_documented(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("path", ["/api/schema/", "/api/schema", "/api/schema/?format=json"])
def test_schema_is_served(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200


def test_schema_is_served_as_json_on_request() -> None:
    response = Client().get("/api/schema/?format=json")
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs", "/api/redoc/", "/api/redoc"])
def test_docs_pages_load_their_assets_from_the_app_only(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert urls, "the page should reference its script and style assets"
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"{path} loads {url} from outside the app"
    for url in urls:
        if url.startswith("/static/"):
            assert Client().get(url).status_code == 200, url


def test_every_documented_header_crosses_origins(schema: dict[str, Any], settings: Settings) -> None:
    """A browser client may send each request header of the schema and read each response header."""
    sent, answered = set(), set()
    for _, _, op in operations(schema):
        sent |= {param["name"].lower() for param in op.get("parameters", []) if param["in"] == "header"}
        for response in op["responses"].values():
            answered |= {name.lower() for name in response.get("headers", {})}
    assert {"if-match", "if-none-match", "idempotency-key"} <= sent
    assert {"etag", "ratelimit", "ratelimit-policy", "retry-after", "idempotent-replayed"} <= answered
    assert sent <= set(settings.CORS_ALLOW_HEADERS)
    assert answered <= set(settings.CORS_EXPOSE_HEADERS)


def test_every_create_takes_an_idempotency_key(schema: dict[str, Any]) -> None:
    creates = [(path, op) for path, method, op in operations(schema) if method == "post" and "201" in op["responses"]]
    assert {path for path, _ in creates} >= {"/api/v1/tasks/", "/api/v1/users/"}
    for path, op in creates:
        headers = {param["name"] for param in op.get("parameters", []) if param["in"] == "header"}
        assert "Idempotency-Key" in headers, path
        assert {"409", "422"} <= set(op["responses"]), path
