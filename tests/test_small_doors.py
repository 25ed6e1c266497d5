"""The smaller doors found by probing a live server: caching of token answers, malformed claims in
correctly signed tokens, the schema's cost, bad Host headers, and links built from the Host header."""

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import issue_token_pair
from common.docs import CachedSchemaView
from common.logging import JSONFormatter
from tests.auth_helpers import assert_token_pair, assert_unauthorized, claims_of, json_login, me, refresh, sign
from tests.factories import TaskFactory
from tests.problem_helpers import assert_problem

pytestmark = pytest.mark.django_db


# Cache-Control ---------------------------------------------------------------------------------


def assert_not_stored(response: Any) -> None:
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"


def test_token_answers_and_authenticated_answers_are_never_stored(api_client: APIClient, user: User) -> None:
    login = json_login(api_client, user.email)
    pair = assert_token_pair(login)
    assert_not_stored(login)
    assert_not_stored(refresh(api_client, pair["refresh_token"]))
    assert_not_stored(me(api_client, pair["access_token"]))
    assert_not_stored(api_client.get("/api/v1/tasks/", HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}"))
    assert_not_stored(json_login(api_client, user.email, "wrong"))  # errors too


def test_the_public_schema_may_be_cached(api_client: APIClient) -> None:
    assert "no-store" not in api_client.get("/api/schema/").get("Cache-Control", "")


# Malformed claims in correctly signed tokens ---------------------------------------------------


def _with(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(claims: dict[str, Any]) -> dict[str, Any]:
        for name, value in changes.items():
            if value is ...:
                del claims[name]
            else:
                claims[name] = value
        return claims

    return change


MALFORMED = {
    "exp-string": _with(exp="tomorrow"),
    "exp-out-of-range": _with(exp=10**20),
    "exp-float-out-of-range": _with(exp=1e300),
    "iat-string": _with(iat="now"),
    "user-id-huge": _with(user_id="9" * 30),
    "user-id-negative": _with(user_id=-1),
    "user-id-list": _with(user_id=[1]),
    "jti-number": _with(jti=5),
    "jti-missing": _with(jti=...),
    "ver-list": _with(ver=[0]),
    "type-number": _with(token_type=1),
}


@pytest.mark.parametrize("malform", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_signed_access_token_with_a_malformed_claim_is_a_401(
    api_client: APIClient, user: User, malform: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    claims = malform(claims_of(issue_token_pair(user).access_token))
    assert_unauthorized(me(api_client, sign(claims)))


@pytest.mark.parametrize("sid", ["1", "x", 2**70, 0, None, True, 1.5])
def test_a_signed_access_token_with_a_malformed_session_id_is_a_401(
    api_client: APIClient, user: User, sid: Any
) -> None:
    claims = claims_of(issue_token_pair(user).access_token)
    claims["sid"] = sid
    assert_unauthorized(me(api_client, sign(claims)))


@pytest.mark.parametrize("malform", [*MALFORMED.values(), _with(fam="1"), _with(fam=2**70)])
def test_a_signed_refresh_token_with_a_malformed_claim_is_a_401(
    api_client: APIClient, user: User, malform: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    token = sign(malform(claims_of(issue_token_pair(user).refresh_token)))
    assert_unauthorized(refresh(api_client, token))
    assert_unauthorized(api_client.post("/api/v1/auth/logout", {"refresh_token": token}, format="json"))


# The schema ------------------------------------------------------------------------------------


def test_the_schema_is_built_once_per_process(api_client: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    CachedSchemaView._answers.clear()
    builds: list[None] = []
    real_build = SchemaGenerator.get_schema

    def counting_build(self: SchemaGenerator, *args: Any, **kwargs: Any) -> Any:
        builds.append(None)
        return real_build(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counting_build)
    answers = [api_client.get("/api/schema/", {"format": "json"}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200] * 3
    assert len(builds) == 1
    assert answers[0].json() == answers[2].json()
    assert answers[2]["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert "/api/v1/auth/sessions/" in answers[0].json()["paths"]
    yaml = [api_client.get("/api/schema/") for _ in range(2)]
    assert yaml[0].content == yaml[1].content
    assert yaml[1]["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml[1].content.startswith(b"openapi: 3")
    assert len(builds) == 2  # once more for YAML, from then on neither is built again


# Bad Host headers ------------------------------------------------------------------------------


def test_a_bad_host_header_is_one_warning_line_without_a_traceback(
    api_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = api_client.get("/api/v1/users/me", HTTP_HOST="evil.example")
    assert_problem(response, 400)
    [record] = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    line = JSONFormatter().format(record)
    assert "\n" not in line
    assert "Traceback" not in line
    assert "evil.example" in json.loads(line)["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# Absolute URLs ---------------------------------------------------------------------------------


def test_links_are_built_from_public_base_url_not_the_host_header(
    user: User, user_client: APIClient, settings: Settings
) -> None:
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    TaskFactory.create_batch(3, owner=user)
    page = user_client.get("/api/v1/tasks/", {"page_size": 1, "page": 2}, HTTP_HOST="localhost:6666").json()
    assert page["next"] == "https://api.example.com/api/v1/tasks/?page=3&page_size=1"
    assert page["previous"] == "https://api.example.com/api/v1/tasks/?page_size=1"
