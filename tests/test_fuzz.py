"""Property-based fuzzing of every operation in the OpenAPI schema, with schemathesis, in process.

Each operation is called through the Django WSGI app on the real test database, once as a `user`
and once as an `admin`, with data that fits the schema (positive) and data that does not
(negative). Every response must be a non-5xx answer that the schema documents: its status code,
content type and body. The data is steered towards real objects and real credentials part of the
time (the caller's own task, another user's, a working refresh token, a valid reset link), so that
the fuzzing reaches past 401s and 404s; each example gets a fresh caller and fresh objects inside
a savepoint that is rolled back, so examples are independent and reproducible.

`FUZZ_MAX_EXAMPLES` (15 by default) bounds the examples per operation, role and mode;
`FUZZ_DERANDOMIZE=0` draws new examples on each run instead of the same ones.
"""

from __future__ import annotations

import copy
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import schemathesis
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import caches
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import links
from accounts.models import Role, User
from accounts.tokens import issue_token_pair
from tasks.models import Task
from tests.auth_helpers import claims_of
from tests.factories import DEFAULT_PASSWORD, AdminFactory, TaskFactory, UserFactory

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES") or 15)
DERANDOMIZE = os.environ.get("FUZZ_DERANDOMIZE", "1") != "0"

# What the API promises: no server error, and only answers the schema documents. Checks such as
# `negative_data_rejection` and `positive_data_acceptance` are left out on purpose: the API
# tolerates unknown body fields, and schema-valid data can still break a business rule (a weak
# password, a duplicate email, the last admin).
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

# A password that Django's validators accept, for the fields that set one.
STRONG_PASSWORD = "fuzzing-horse-battery-staple-7"

# At least this share of schema-valid requests must succeed where the caller's role allows the
# operation: a run that only sees 400s or 404s is not exercising the API.
MIN_SUCCESS_SHARE = 0.2


def _without_security(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with no security requirement, so that schemathesis never generates or drops the
    `Authorization` header: every request carries the caller's real token instead."""
    fuzzed = copy.deepcopy(schema)
    fuzzed.pop("security", None)
    for operations in fuzzed["paths"].values():
        for definition in operations.values():
            definition.pop("security", None)
    return fuzzed


SCHEMA_DICT: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
SCHEMA = schemathesis.openapi.from_dict(_without_security(SCHEMA_DICT))
SCHEMA.app = WSGIHandler()


def _operations() -> list[APIOperation]:
    operations = []
    for result in SCHEMA.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # a schema schemathesis cannot read is a failure of its own
        operations.append(result.ok())
    return operations


OPERATIONS = _operations()


def _definition(operation: APIOperation) -> dict[str, Any]:
    definition: dict[str, Any] = SCHEMA_DICT["paths"][operation.path][operation.method.lower()]
    return definition


def _requires_bearer(operation: APIOperation) -> bool:
    return any("bearerAuth" in requirement for requirement in _definition(operation).get("security", []))


def _has_inputs(operation: APIOperation) -> bool:
    """Whether the operation takes anything but a token, so that negative data can exist for it."""
    definition = _definition(operation)
    return bool(definition.get("parameters") or definition.get("requestBody"))


def _admin_only(operation: APIOperation) -> bool:
    return operation.path.startswith("/api/v1/users/") and not operation.path.startswith("/api/v1/users/me/")


@dataclass(frozen=True)
class World:
    """What one example runs against: the caller, their tokens, and objects to aim at."""

    caller: User
    access_token: str
    refresh_token: str
    own_task: Task
    other_user: User
    other_task: Task
    own_session: int
    other_session: int


def _make_world(role: Role) -> World:
    caller = (AdminFactory if role == Role.ADMIN else UserFactory).create()
    pair = issue_token_pair(caller)
    other_user = UserFactory.create()
    other_pair = issue_token_pair(other_user)
    return World(
        caller=caller,
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        own_task=TaskFactory.create(owner=caller),
        other_user=other_user,
        other_task=TaskFactory.create(owner=other_user),
        own_session=claims_of(pair.access_token)["sid"],
        other_session=claims_of(other_pair.access_token)["sid"],
    )


def _real_body_fields(method: str, path: str, world: World) -> dict[str, Any]:
    """Body fields that make a request to `path` get past the credential and password checks."""
    caller = world.caller
    if path == "/api/v1/auth/verify-email/":
        newcomer = UserFactory.create(email_verified_at=None)
        return _link_fields(links.verification_link(newcomer))
    if path == "/api/v1/auth/email-change/confirm/":
        return _link_fields(links.email_change_link(caller, f"changed-{caller.pk}@example.com"))
    if path == "/api/v1/users/me/" and method.upper() == "DELETE":
        if caller.is_admin:
            AdminFactory.create()  # the last active admin may not delete itself
        return {"password": DEFAULT_PASSWORD}
    if path == "/api/v1/auth/login/":
        # `username` and `email` are both optional in the schema, but one of them is needed.
        return {"username": caller.email, "password": DEFAULT_PASSWORD}
    if path in ("/api/v1/auth/refresh/", "/api/v1/auth/logout/"):
        return {"refresh_token": world.refresh_token}
    if path == "/api/v1/auth/password-reset/":
        return {"email": caller.email}
    if path == "/api/v1/auth/password-reset/confirm/":
        return {
            "uid": urlsafe_base64_encode(force_bytes(caller.pk)),
            "token": default_token_generator.make_token(caller),
            "new_password": STRONG_PASSWORD,
        }
    if path == "/api/v1/users/me/password/":
        return {"current_password": DEFAULT_PASSWORD, "new_password": STRONG_PASSWORD}
    if path == "/api/v1/users/":
        return {"password": STRONG_PASSWORD}
    return {}


def _link_fields(link: str) -> dict[str, str]:
    query = parse_qs(urlsplit(link).query)
    return {"uid": query["uid"][0], "token": query["token"][0]}


def _steer(case: Case, world: World, data: st.DataObject, mode: GenerationMode) -> None:
    """Point part of the examples at real objects and real credentials.

    Path ids are steered in both modes; the page number and body fields only in positive mode,
    so that negative data stays negative.
    """
    if "id" in case.path_parameters:
        ids = {
            "/api/v1/tasks/{id}/": [world.own_task.pk, world.other_task.pk],
            "/api/v1/users/{id}/": [world.other_user.pk, world.caller.pk],
            "/api/v1/auth/sessions/{id}/": [world.own_session, world.other_session],
        }[case.operation.path]
        chosen = data.draw(st.sampled_from([*ids, None]), label="id")
        if chosen is not None:
            case.path_parameters["id"] = str(chosen)
    positive = mode == GenerationMode.POSITIVE
    prefer_real = st.sampled_from([True, True, False])
    if positive and case.query and "page" in case.query and data.draw(prefer_real, label="first page"):
        del case.query["page"]  # a random page number is nearly always past the last page: 404
    real = _real_body_fields(case.operation.method, case.operation.path, world)
    body = case.body
    if real and positive and isinstance(body, dict) and data.draw(prefer_real, label="real credentials"):
        body.update(real)


@pytest.fixture
def _wsgi_in_test_transaction() -> Iterator[None]:
    """Keep the test's connection open across requests, as Django's own test client does.

    A WSGI handler closes "old" connections when a request starts and finishes; inside the test's
    transaction that would break every later query.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _fuzz(operation: APIOperation, role: Role, mode: GenerationMode) -> Counter[int]:
    """Run the examples and answer how many responses each status code got."""
    statuses: Counter[int] = Counter()
    strategy = operation.as_strategy(generation_mode=mode)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=DERANDOMIZE,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(data=st.data())
    def example(data: st.DataObject) -> None:
        for cache in caches.all(initialized_only=True):
            cache.clear()  # no rate-limit count carried over from another example
        with transaction.atomic():
            world = _make_world(role)
            case = data.draw(strategy, label="case")
            _steer(case, world, data, mode)
            headers = {"Authorization": f"Bearer {world.access_token}"}
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            finally:
                transaction.set_rollback(True)

    example()
    return statuses


# Invalid data only where the operation takes some input besides the token.
CASES = [
    pytest.param(operation, mode, id=f"{operation.label}-{mode.value}")
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or _has_inputs(operation)
]


@pytest.mark.usefixtures("_wsgi_in_test_transaction")
@pytest.mark.parametrize("role", [Role.USER, Role.ADMIN], ids=str)
@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_fuzz(db: None, operation: APIOperation, role: Role, mode: GenerationMode) -> None:
    statuses = _fuzz(operation, role, mode)

    total = statuses.total()
    successes = sum(count for status, count in statuses.items() if 200 <= status < 300)
    assert total > 0
    if _requires_bearer(operation):
        # The caller's token stays valid in every example: a 401 here means the fuzzing missed.
        assert statuses[401] == 0, statuses
    if _admin_only(operation) and role == Role.USER:
        assert successes == 0, statuses
    elif mode == GenerationMode.POSITIVE:
        assert successes >= MIN_SUCCESS_SHARE * total, statuses
