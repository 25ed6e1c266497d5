"""Sessions (refresh-token families): listed, ended one by one or all at once, and ended for good
after `REFRESH_SESSION_MAX_DAYS`. Ending a session refuses its access tokens at once."""

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone
from pytest_django.fixtures import DjangoAssertNumQueries, Settings
from rest_framework.test import APIClient

from accounts import services
from accounts.models import RefreshTokenFamily, RevocationReason, User
from common.client import Client
from tests.auth_helpers import (
    assert_token_pair,
    assert_unauthorized,
    claims_of,
    json_login,
    logout,
    me,
    refresh,
)
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

SESSIONS_URL = "/api/v1/auth/sessions"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all"


def login_from(client: APIClient, user: User, user_agent: str, address: str = "127.0.0.1") -> dict[str, Any]:
    response = client.post(
        "/api/v1/auth/login",
        {"username": user.email, "password": DEFAULT_PASSWORD},
        format="json",
        HTTP_USER_AGENT=user_agent,
        REMOTE_ADDR=address,
    )
    return assert_token_pair(response)


def bearer(pair: dict[str, Any]) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {pair['access_token']}"}


def security_events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if getattr(record, "event", None) == name]


# logout-all ------------------------------------------------------------------------------------


def test_logout_all_refuses_every_access_token_of_the_caller_at_once(api_client: APIClient, user: User) -> None:
    phone, laptop = json_login(api_client, user.email).json(), json_login(api_client, user.email).json()
    assert me(api_client, laptop["access_token"]).status_code == 200

    assert api_client.post(LOGOUT_ALL_URL, **bearer(phone)).status_code == 204

    for pair in (phone, laptop):
        assert_unauthorized(me(api_client, pair["access_token"]))
        assert_unauthorized(refresh(api_client, pair["refresh_token"]))
    assert me(api_client, json_login(api_client, user.email).json()["access_token"]).status_code == 200


# Absolute session lifetime ---------------------------------------------------------------------


def test_no_refresh_token_outlives_the_session(api_client: APIClient, user: User, settings: Settings) -> None:
    settings.REFRESH_SESSION_MAX_LIFETIME = timedelta(days=2)  # shorter than a refresh token's 7 days
    pair = assert_token_pair(json_login(api_client, user.email))
    family = RefreshTokenFamily.objects.get()
    assert claims_of(pair["refresh_token"])["exp"] <= (family.created_at + timedelta(days=2)).timestamp()


def test_refreshing_never_extends_a_session_past_its_maximum(
    api_client: APIClient, user: User, settings: Settings
) -> None:
    settings.REFRESH_SESSION_MAX_LIFETIME = timedelta(days=30)
    pair = assert_token_pair(json_login(api_client, user.email))
    # The session started 30 days less one hour ago: one more refresh, its tokens end with it.
    started = timezone.now() - timedelta(days=30) + timedelta(hours=1)
    RefreshTokenFamily.objects.update(created_at=started)
    pair = assert_token_pair(refresh(api_client, pair["refresh_token"]))
    session_end = (started + timedelta(days=30)).timestamp()
    assert claims_of(pair["refresh_token"])["exp"] <= session_end
    assert claims_of(pair["access_token"])["exp"] <= session_end

    # Past the maximum the session is over: the client must log in again.
    RefreshTokenFamily.objects.update(created_at=timezone.now() - timedelta(days=30, seconds=1))
    assert_unauthorized(refresh(api_client, pair["refresh_token"]))
    assert_token_pair(json_login(api_client, user.email))


# Logging out with a rotated token --------------------------------------------------------------


def test_logging_out_with_a_rotated_refresh_token_is_reuse(
    api_client: APIClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    stolen = assert_token_pair(json_login(api_client, user.email))
    rightful = assert_token_pair(refresh(api_client, stolen["refresh_token"]))

    with caplog.at_level(logging.WARNING, logger="security"):
        assert_unauthorized(logout(api_client, stolen["refresh_token"]))

    family = RefreshTokenFamily.objects.get()
    assert family.revoked_reason == RevocationReason.REUSE
    [event] = security_events(caplog, "refresh_reuse_detected")
    assert event.user_id == user.pk  # type: ignore[attr-defined]
    assert event.family_id == family.pk  # type: ignore[attr-defined]
    assert_unauthorized(refresh(api_client, rightful["refresh_token"]))
    assert_unauthorized(me(api_client, rightful["access_token"]))


def test_logout_refuses_the_sessions_access_tokens_at_once(api_client: APIClient, user: User) -> None:
    ended, kept = json_login(api_client, user.email).json(), json_login(api_client, user.email).json()
    assert logout(api_client, ended["refresh_token"]).status_code == 204
    assert_unauthorized(me(api_client, ended["access_token"]))
    assert me(api_client, kept["access_token"]).status_code == 200


# The session list ------------------------------------------------------------------------------


def test_access_tokens_carry_their_session_id(api_client: APIClient, user: User) -> None:
    pair = assert_token_pair(json_login(api_client, user.email))
    assert claims_of(pair["access_token"])["sid"] == RefreshTokenFamily.objects.get().pk


def test_sessions_are_listed_newest_first_with_the_current_one_marked(
    api_client: APIClient, user: User, other_user: User
) -> None:
    phone = login_from(api_client, user, "Phone/1.0", "203.0.113.7")
    laptop = login_from(api_client, user, "Laptop/2.0 " + "x" * 500, "2001:db8::1")
    ended = login_from(api_client, user, "Old/0.1")
    logout(api_client, ended["refresh_token"])
    login_from(api_client, other_user, "Someone else")

    response = api_client.get(SESSIONS_URL, **bearer(phone))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    newest, oldest = body["results"]
    assert set(newest) == {"id", "created_at", "last_used_at", "user_agent", "ip_address", "current"}
    assert newest["id"] == claims_of(laptop["access_token"])["sid"]
    assert newest["user_agent"].startswith("Laptop/2.0 ")
    assert len(newest["user_agent"]) == 200
    assert newest["ip_address"] == "2001:db8::1"
    assert newest["current"] is False
    assert oldest["id"] == claims_of(phone["access_token"])["sid"]
    assert (oldest["user_agent"], oldest["ip_address"], oldest["current"]) == ("Phone/1.0", "203.0.113.7", True)


def test_a_refresh_updates_the_sessions_last_use(api_client: APIClient, user: User) -> None:
    pair = login_from(api_client, user, "Phone/1.0", "203.0.113.7")
    RefreshTokenFamily.objects.update(last_used_at=timezone.now() - timedelta(days=1))
    response = api_client.post(
        "/api/v1/auth/refresh",
        {"refresh_token": pair["refresh_token"]},
        format="json",
        HTTP_USER_AGENT="Phone/1.1",
        REMOTE_ADDR="198.51.100.2",
    )
    pair = assert_token_pair(response)
    [session] = api_client.get(SESSIONS_URL, **bearer(pair)).json()["results"]
    assert (session["user_agent"], session["ip_address"], session["current"]) == ("Phone/1.1", "198.51.100.2", True)
    family = RefreshTokenFamily.objects.get()
    assert family.last_used_at > timezone.now() - timedelta(minutes=1)
    assert family.last_used_at > family.created_at


def test_ending_one_session_leaves_the_others_alone(
    api_client: APIClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    phone, laptop = login_from(api_client, user, "Phone"), login_from(api_client, user, "Laptop")
    laptop_id = claims_of(laptop["access_token"])["sid"]

    with caplog.at_level(logging.INFO, logger="security"):
        assert api_client.delete(f"{SESSIONS_URL}/{laptop_id}", **bearer(phone)).status_code == 204

    assert_unauthorized(me(api_client, laptop["access_token"]))  # at once, not when it expires
    assert_unauthorized(refresh(api_client, laptop["refresh_token"]))
    assert me(api_client, phone["access_token"]).status_code == 200
    assert [s["id"] for s in api_client.get(SESSIONS_URL, **bearer(phone)).json()["results"]] == [
        claims_of(phone["access_token"])["sid"]
    ]
    [event] = security_events(caplog, "session_ended")
    assert (event.user_id, event.family_id) == (user.pk, laptop_id)  # type: ignore[attr-defined]
    # Ended already: nothing left to end.
    assert api_client.delete(f"{SESSIONS_URL}/{laptop_id}/", **bearer(phone)).status_code == 404


def test_another_users_session_cannot_be_ended(api_client: APIClient, user: User, other_user: User) -> None:
    mine = login_from(api_client, user, "Mine")
    theirs = login_from(api_client, other_user, "Theirs")
    response = api_client.delete(f"{SESSIONS_URL}/{claims_of(theirs['access_token'])['sid']}", **bearer(mine))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert me(api_client, theirs["access_token"]).status_code == 200


def test_the_session_list_needs_an_access_token(api_client: APIClient) -> None:
    assert_unauthorized(api_client.get(SESSIONS_URL))
    assert_unauthorized(api_client.delete(f"{SESSIONS_URL}/1"))


def test_me_stays_one_statement_and_sees_an_ended_session_at_once(
    api_client: APIClient, user: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    pair = assert_token_pair(json_login(api_client, user.email))
    with django_assert_num_queries(1):
        assert me(api_client, pair["access_token"]).status_code == 200
    RefreshTokenFamily.objects.update(revoked_at=timezone.now())
    with django_assert_num_queries(1):
        assert_unauthorized(me(api_client, pair["access_token"]))


# The admin site --------------------------------------------------------------------------------


@pytest.fixture
def admin_site(admin_user: User) -> DjangoClient:
    client = DjangoClient()
    client.force_login(admin_user)
    return client


def test_the_admin_shows_a_users_live_sessions(admin_site: DjangoClient, api_client: APIClient, user: User) -> None:
    login_from(api_client, user, "Phone/9.9", "203.0.113.50")
    ended = login_from(api_client, user, "Gone/0.0")
    logout(api_client, ended["refresh_token"])
    page = admin_site.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    assert b"Phone/9.9" in page.content
    assert b"203.0.113.50" in page.content
    assert b"Gone/0.0" not in page.content


def test_an_admin_action_ends_every_session_of_a_user(
    admin_site: DjangoClient, api_client: APIClient, user: User, other_user: User
) -> None:
    pairs = [login_from(api_client, user, "A"), login_from(api_client, user, "B")]
    bystander = login_from(api_client, other_user, "C")
    response = admin_site.post(
        "/admin/accounts/user/", {"action": "end_all_sessions", "_selected_action": [user.pk]}, follow=True
    )
    assert response.status_code == 200
    assert b"2 session(s) ended" in response.content
    for pair in pairs:
        assert_unauthorized(me(api_client, pair["access_token"]))
        assert_unauthorized(refresh(api_client, pair["refresh_token"]))
    assert me(api_client, bystander["access_token"]).status_code == 200
    assert set(RefreshTokenFamily.objects.filter(user=user).values_list("revoked_reason", flat=True)) == {
        RevocationReason.ADMIN
    }


def test_the_users_page_can_end_every_session(admin_site: DjangoClient, api_client: APIClient, user: User) -> None:
    pair = login_from(api_client, user, "A")
    response = admin_site.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {"email": user.email, "full_name": "", "role": "user", "is_active": "on", "end_sessions": "on"},
    )
    assert response.status_code == 302, response.content
    assert_unauthorized(me(api_client, pair["access_token"]))


# The services, called directly -----------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "garbage", "a.b.c"])
def test_the_refresh_and_logout_services_refuse_a_bad_raw_token_with_one_error(raw: str) -> None:
    with pytest.raises(services.AuthenticationError) as refused:
        services.auth_refresh(refresh_token=raw, client=Client())
    assert refused.value.code == "token_not_valid"
    with pytest.raises(services.AuthenticationError):
        services.auth_logout(refresh_token=raw)


@pytest.mark.usefixtures("one_rate_limit_window")
def test_the_login_service_refuses_bad_credentials_and_counts_them(user: User) -> None:
    client = Client(address="203.0.113.9")
    for _ in range(10):
        with pytest.raises(services.AuthenticationError) as refused:
            services.auth_login(email=user.email, password="guess", client=client)
        assert refused.value.code == "invalid_credentials"
    with pytest.raises(services.RateLimitedError) as limited:
        services.auth_login(email=user.email, password=DEFAULT_PASSWORD, client=client)
    assert 0 < limited.value.wait <= 60
