"""Every throttled answer says its limits (IETF RateLimit header fields), from the counters themselves."""

import re
from typing import Any

import pytest
from django.core.cache import caches
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import User
from tests.auth_helpers import LOGIN_URL, json_login
from tests.problem_helpers import assert_problem

pytestmark = pytest.mark.django_db

ITEM = re.compile(r'^"(?P<policy>[a-z_]+)";(?P<params>[a-z]+=\d+(?:;[a-z]+=\d+)*)$')


def parse(header: str) -> dict[str, dict[str, int]]:
    """A structured-field list of `"policy";key=n;...` items."""
    items = {}
    for member in header.split(", "):
        match = ITEM.match(member)
        assert match, header
        params = dict(param.split("=") for param in match["params"].split(";"))
        items[match["policy"]] = {key: int(value) for key, value in params.items()}
    return items


def test_each_answer_gives_the_policy_and_what_remains(user_client: APIClient, settings: Settings) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user": "5/min"}
    answers = [user_client.get("/api/v1/tasks/") for _ in range(6)]
    for answer in answers:
        assert parse(answer["RateLimit-Policy"]) == {"user": {"q": 5, "w": 60}}
    remaining = [parse(answer["RateLimit"])["user"]["r"] for answer in answers]
    assert remaining == [4, 3, 2, 1, 0, 0]
    resets = [parse(answer["RateLimit"])["user"]["t"] for answer in answers]
    assert all(0 < reset <= 60 for reset in resets)
    limited = answers[-1]
    assert_problem(limited, 429)
    assert int(limited["Retry-After"]) == resets[-1]


def test_anonymous_answers_carry_their_own_limit(api_client: APIClient, settings: Settings) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "anon": "3/min"}
    answer = api_client.post(LOGIN_URL, {}, format="json")
    assert answer.status_code == 400
    assert parse(answer["RateLimit-Policy"]) == {"anon": {"q": 3, "w": 60}}
    assert parse(answer["RateLimit"])["anon"]["r"] == 2


def test_failed_logins_show_every_limit_they_count_against(api_client: APIClient, user: User) -> None:
    first = json_login(api_client, user.email, "a-guess")
    assert first.status_code == 401
    policies = parse(first["RateLimit-Policy"])
    assert policies["login_failures"] == {"q": 10, "w": 60}
    assert policies["login_failures_per_address"] == {"q": 50, "w": 60}
    assert parse(first["RateLimit"])["login_failures"]["r"] == 9
    # A successful login takes its attempt back, and says so.
    assert parse(json_login(api_client, user.email)["RateLimit"])["login_failures"]["r"] == 9


def test_an_unlimited_scope_sends_no_headers(user_client: APIClient, settings: Settings) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user": None}
    answer = user_client.get("/api/v1/tasks/")
    assert answer.status_code == 200
    assert "RateLimit" not in answer
    assert "RateLimit-Policy" not in answer


def test_the_headers_cost_no_extra_cache_round_trip(
    user_client: APIClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A throttled request talks to the counter cache twice (add, incr), as it did before the headers."""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user": "5/min"}
    cache = caches["throttle"]
    calls: list[str] = []
    for name in ("add", "incr", "decr", "get", "get_many", "set", "touch", "ttl", "has_key"):
        if hasattr(cache, name):
            real = getattr(cache, name)

            def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
                calls.append(_name)
                return _real(*args, **kwargs)

            monkeypatch.setattr(cache, name, counted)
    answer = user_client.get("/api/v1/tasks/")
    assert "RateLimit" in answer
    assert calls == ["add", "incr"]
