"""The doors besides the API's login: the admin site's login, the password change and the
password-reset request, each guessed at or flooded, and each stopped by the same limits."""

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import User
from common.client import rate_limit_identity
from tests.auth_helpers import json_login
from tests.factories import DEFAULT_PASSWORD, AdminFactory
from tests.problem_helpers import assert_problem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_rate_limit_window")]

PASSWORD_URL = "/api/v1/users/me/password"
RESET_URL = "/api/v1/auth/password-reset"


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if getattr(record, "event", None) == name]


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password the app hashes or verifies, as they happen."""
    checked: list[str] = []
    real_check = User.check_password

    def counting_check(user: User, raw_password: str | None) -> bool:
        checked.append("verify")
        return real_check(user, raw_password)

    monkeypatch.setattr(User, "check_password", counting_check)
    return checked


def admin_login(client: Client, email: str, password: str) -> Any:
    return client.post("/admin/login/?next=/admin/", {"username": email, "password": password})


# The admin site's login ------------------------------------------------------------------------


def test_guessing_an_admins_password_on_the_admin_site_is_stopped(
    caplog: pytest.LogCaptureFixture, password_checks: list[str]
) -> None:
    admin = AdminFactory.create()
    site = Client()
    with caplog.at_level(logging.INFO, logger="security"):
        answers = [admin_login(site, admin.email, f"guess-{n}") for n in range(12)]
        password_checks.clear()
        right = admin_login(site, admin.email, DEFAULT_PASSWORD)

    assert [answer.status_code for answer in answers] == [200] * 10 + [429] * 2
    limited = answers[-1]
    assert int(limited["Retry-After"]) == 59  # the rest of the minute
    assert b"Too many failed logins" in limited.content
    assert b"admin/css/login.css" in limited.content  # the admin's own styled page
    # Even the right password waits, and nothing is hashed while the limit holds.
    assert right.status_code == 429
    assert password_checks == []
    failed, throttled = events(caplog, "login_failed"), events(caplog, "login_throttled")
    assert len(failed) == 10
    assert len(throttled) == 3
    assert {record.channel for record in failed + throttled} == {"admin"}  # type: ignore[attr-defined]
    assert {record.user_id for record in failed} == {admin.pk}  # type: ignore[attr-defined]
    assert site.get("/admin/").status_code == 302  # still not signed in


def test_the_admin_site_and_the_api_count_failures_together(api_client: APIClient) -> None:
    admin = AdminFactory.create()
    for n in range(5):
        assert json_login(api_client, admin.email, f"api-guess-{n}").status_code == 401
    site = Client()
    statuses = [admin_login(site, admin.email, f"admin-guess-{n}").status_code for n in range(6)]
    assert statuses == [200] * 5 + [429]
    assert json_login(api_client, admin.email).status_code == 429


def test_failed_admin_logins_across_accounts_are_limited_per_address() -> None:
    site = Client()
    statuses = [admin_login(site, f"nobody{n}@example.com", "guess").status_code for n in range(51)]
    assert statuses == [200] * 50 + [429]


def test_a_successful_admin_login_is_logged_and_not_counted(caplog: pytest.LogCaptureFixture) -> None:
    admin = AdminFactory.create()
    with caplog.at_level(logging.INFO, logger="security"):
        for _ in range(12):
            assert admin_login(Client(), admin.email, DEFAULT_PASSWORD).status_code == 302
    succeeded = events(caplog, "login_succeeded")
    assert len(succeeded) == 12
    assert succeeded[0].channel == "admin"  # type: ignore[attr-defined]


# The password change ---------------------------------------------------------------------------


def test_guessing_the_current_password_with_a_stolen_token_is_stopped(
    api_client: APIClient, user_client: APIClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    def change(current: str) -> Any:
        return user_client.post(PASSWORD_URL, {"current_password": current, "new_password": "a-new-pass-phrase-9"})

    with caplog.at_level(logging.INFO, logger="security"):
        answers = [change(f"guess-{n}") for n in range(11)]

    assert [answer.status_code for answer in answers] == [400] * 10 + [429]
    limited = answers[-1]
    assert assert_problem(limited, 429)["code"] == "throttled"
    assert int(limited["Retry-After"]) == 59
    failures = events(caplog, "password_change_failed")
    assert len(failures) == 10
    assert {record.user_id for record in failures} == {user.pk}  # type: ignore[attr-defined]
    # The right password waits too, and the account's login from here is limited as well.
    assert change(DEFAULT_PASSWORD).status_code == 429
    assert json_login(api_client, user.email).status_code == 429
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_a_right_current_password_does_not_count(user: User, client_for: Callable[[User], APIClient]) -> None:
    password = DEFAULT_PASSWORD
    for n in range(12):
        new = f"a-new-pass-phrase-{n}"
        response = client_for(user).post(PASSWORD_URL, {"current_password": password, "new_password": new})
        assert response.status_code == 204
        password = new
        user.refresh_from_db()


# Password-reset requests -----------------------------------------------------------------------


@pytest.fixture
def request_reset(django_capture_on_commit_callbacks: Any) -> Callable[[str, str], Any]:
    def post(email: str, address: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return APIClient(REMOTE_ADDR=address).post(RESET_URL, {"email": email}, format="json")

    return post


def test_one_mailbox_cannot_be_flooded_from_many_addresses(
    user: User, request_reset: Callable[[str, str], Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="security"):
        answers = [request_reset(user.email.upper(), f"198.51.100.{n}") for n in range(6)]
        unknown = request_reset("nobody@example.com", "198.51.100.99")

    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.content for answer in [*answers, unknown]}) == 1  # nothing tells them apart
    assert len(mail.outbox) == 3
    assert len(events(caplog, "password_reset_throttled")) == 3


def test_the_per_email_limit_follows_its_setting(
    user: User, request_reset: Callable[[str, str], Any], settings: Settings
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "password_reset_per_email": "1/hour"}
    assert {request_reset(user.email, f"198.51.100.{n}").status_code for n in range(3)} == {202}
    assert len(mail.outbox) == 1


# IPv6 clients ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "counted"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("not-an-address", "not-an-address"),
    ],
)
def test_rate_limits_count_an_ipv6_client_by_its_64(address: str, counted: str) -> None:
    assert rate_limit_identity(address) == counted


def test_an_ipv6_client_gets_no_fresh_limit_from_a_new_address_in_its_64(user: User) -> None:
    def attempt(address: str) -> int:
        client = APIClient(REMOTE_ADDR=address)
        return int(json_login(client, user.email, "guess").status_code)

    statuses = [attempt(f"2001:db8:0:7::{n + 1:x}") for n in range(11)]
    assert statuses == [401] * 10 + [429]
    assert attempt("2001:db8:0:8::1") == 401  # another /64 is another client


def test_password_reset_requests_from_one_ipv6_64_share_a_limit(
    request_reset: Callable[[str, str], Any],
) -> None:
    statuses = [request_reset(f"someone{n}@example.com", f"2001:db8:0:9::{n + 1:x}").status_code for n in range(6)]
    assert statuses == [202] * 5 + [429]
