"""The refresh token as an HttpOnly cookie for web front ends (`X-Token-Transport: cookie`),
beside the body mode, with the custom-header and `Origin` checks that keep other sites out."""

from typing import Any

import pytest
from django.test import override_settings
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import RefreshTokenFamily, User
from tests.auth_helpers import LOGIN_URL, LOGOUT_URL, REFRESH_URL, assert_token_pair, json_login, me, refresh
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db

COOKIE: dict[str, Any] = {"HTTP_X_TOKEN_TRANSPORT": "cookie"}
FRONT_END = "http://localhost:3000"


@pytest.fixture(autouse=True)
def _front_end_allowed(settings: Settings) -> None:
    settings.CORS_ALLOWED_ORIGINS = [FRONT_END]


def cookie_login(client: APIClient, user: User, **headers: Any) -> Any:
    return client.post(
        LOGIN_URL, {"username": user.email, "password": DEFAULT_PASSWORD}, format="json", **COOKIE, **headers
    )


def cookie_refresh(client: APIClient, **headers: Any) -> Any:
    return client.post(REFRESH_URL, {}, format="json", **{**COOKIE, **headers})


def test_a_cookie_login_sets_an_httponly_cookie_and_leaves_the_token_out_of_the_body(
    api_client: APIClient, user: User
) -> None:
    response = cookie_login(api_client, user, HTTP_ORIGIN=FRONT_END)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert me(api_client, body["access_token"]).status_code == 200
    cookie = response.cookies["refresh_token"]
    assert cookie.value
    assert cookie["httponly"] is True
    assert cookie["secure"] is True  # DEBUG is off
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/api/v1/auth/"
    assert int(cookie["max-age"]) == pytest.approx(7 * 24 * 3600, abs=5)


@override_settings(REFRESH_COOKIE_SAMESITE="Lax", REFRESH_COOKIE_SECURE=False)
def test_the_cookie_follows_its_settings(api_client: APIClient, user: User) -> None:
    cookie = cookie_login(api_client, user).cookies["refresh_token"]
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]


def test_refresh_reads_the_cookie_and_rotates_it(api_client: APIClient, user: User) -> None:
    cookie_login(api_client, user, HTTP_ORIGIN=FRONT_END)
    first = api_client.cookies["refresh_token"].value
    response = cookie_refresh(api_client, HTTP_ORIGIN=FRONT_END)
    assert response.status_code == 200
    assert "refresh_token" not in response.json()
    second = response.cookies["refresh_token"].value
    assert second != first
    assert me(api_client, response.json()["access_token"]).status_code == 200
    # The rotated cookie, presented again, is reuse: the whole session ends, the new cookie included.
    api_client.cookies["refresh_token"] = first
    reused = cookie_refresh(api_client)
    assert reused.status_code == 401
    assert reused.cookies["refresh_token"].value == ""  # the browser is told to drop it
    api_client.cookies["refresh_token"] = second
    assert cookie_refresh(api_client).status_code == 401


def test_the_cookie_is_ignored_without_the_custom_header(api_client: APIClient, user: User) -> None:
    cookie_login(api_client, user)
    response = api_client.post(REFRESH_URL, {}, format="json")  # as a form another site posts would be
    assert response.status_code == 400
    assert "refresh_token" in response.json()["errors"]
    assert api_client.post(LOGOUT_URL, {}, format="json").status_code == 400
    assert RefreshTokenFamily.objects.live().filter(user=user).count() == 1


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:3001", "null"])
def test_the_cookie_is_refused_from_an_origin_not_allowed(api_client: APIClient, user: User, origin: str) -> None:
    cookie_login(api_client, user)
    for url in (REFRESH_URL, LOGOUT_URL):
        response = api_client.post(url, {}, format="json", HTTP_ORIGIN=origin, **COOKIE)
        assert response.status_code == 403
        assert response.json()["code"] == "origin_not_allowed"
    assert cookie_login(APIClient(), user, HTTP_ORIGIN=origin).status_code == 403
    assert RefreshTokenFamily.objects.live().filter(user=user).count() == 1


def test_the_apis_own_origin_may_use_the_cookie(api_client: APIClient, user: User) -> None:
    cookie_login(api_client, user)
    assert cookie_refresh(api_client, HTTP_ORIGIN="http://testserver").status_code == 200


def test_a_cookie_refresh_without_a_cookie_is_401(api_client: APIClient) -> None:
    response = cookie_refresh(api_client, HTTP_ORIGIN=FRONT_END)
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_logout_ends_the_cookie_session_and_clears_the_cookie(api_client: APIClient, user: User) -> None:
    access = cookie_login(api_client, user).json()["access_token"]
    response = api_client.post(LOGOUT_URL, {}, format="json", HTTP_ORIGIN=FRONT_END, **COOKIE)
    assert response.status_code == 204
    cleared = response.cookies["refresh_token"]
    assert cleared.value == ""
    assert cleared["path"] == "/api/v1/auth/"
    assert int(cleared["max-age"]) == 0
    assert me(api_client, access).status_code == 401
    assert not RefreshTokenFamily.objects.live().filter(user=user).exists()


def test_logout_all_clears_the_cookie(api_client: APIClient, user: User) -> None:
    access = cookie_login(api_client, user).json()["access_token"]
    response = api_client.post("/api/v1/auth/logout-all", HTTP_AUTHORIZATION=f"Bearer {access}", **COOKIE)
    assert response.status_code == 204
    assert response.cookies["refresh_token"].value == ""
    assert cookie_refresh(api_client).status_code == 401


def test_body_and_cookie_modes_side_by_side(api_client: APIClient, user: User) -> None:
    body_pair = assert_token_pair(json_login(APIClient(), user.email))
    cookie_login(api_client, user)
    # Each session refreshes in its own mode.
    rotated = assert_token_pair(refresh(APIClient(), body_pair["refresh_token"]))
    cookie_access = cookie_refresh(api_client).json()["access_token"]
    # A body token wins over the cookie when a request carries both, and answers in cookie mode.
    both = api_client.post(REFRESH_URL, {"refresh_token": rotated["refresh_token"]}, format="json", **COOKIE)
    assert both.status_code == 200
    assert "refresh_token" not in both.json()
    sessions = api_client.get("/api/v1/auth/sessions", HTTP_AUTHORIZATION=f"Bearer {cookie_access}").json()["results"]
    assert len(sessions) == 2
    assert [session["current"] for session in sessions] == [True, False]


def test_cors_lets_the_listed_origin_send_credentials_and_the_header_and_no_other(api_client: APIClient) -> None:
    def preflight(origin: str) -> Any:
        return api_client.options(
            REFRESH_URL,
            HTTP_ORIGIN=origin,
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-token-transport, content-type",
        )

    allowed = preflight(FRONT_END)
    assert allowed["Access-Control-Allow-Origin"] == FRONT_END
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    assert "x-token-transport" in allowed["Access-Control-Allow-Headers"]
    refused = preflight("http://evil.example")
    assert "Access-Control-Allow-Origin" not in refused
    assert "Access-Control-Allow-Credentials" not in refused


def test_the_public_base_url_counts_as_the_apis_own_origin(
    api_client: APIClient, user: User, settings: Settings
) -> None:
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    cookie_login(api_client, user)
    assert cookie_refresh(api_client, HTTP_ORIGIN="https://api.example.com").status_code == 200
    assert cookie_refresh(api_client, HTTP_ORIGIN="https://other.example.com").status_code == 403
