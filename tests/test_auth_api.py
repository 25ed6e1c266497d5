"""Logging in, refreshing and logging out, as a client of the API meets them."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

import config.settings
from accounts.models import User
from accounts.tokens import issue_token_pair
from tests.auth_helpers import (
    LOGIN_URL,
    LOGOUT_URL,
    OTHER_KEY,
    REFRESH_URL,
    assert_token_pair,
    assert_unauthorized,
    claims_of,
    form_login,
    json_login,
    me,
    refresh,
    sign,
)
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ARGON2 = "accounts.hashers.Argon2PasswordHasher"


# Login -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [LOGIN_URL, LOGIN_URL + "/"])
def test_login_with_the_earlier_templates_form(api_client: APIClient, user: User, url: str) -> None:
    response = api_client.post(
        url,
        f"username={user.email}&password={DEFAULT_PASSWORD}",
        content_type="application/x-www-form-urlencoded",
    )
    body = assert_token_pair(response)
    assert me(api_client, body["access_token"]).json()["email"] == user.email


@pytest.mark.parametrize("field", ["username", "email"])
def test_login_with_json(api_client: APIClient, user: User, field: str) -> None:
    response = api_client.post(LOGIN_URL, {field: user.email, "password": DEFAULT_PASSWORD}, format="json")
    body = assert_token_pair(response)
    assert me(api_client, body["access_token"]).json()["id"] == user.pk


def test_login_takes_json_or_a_form_only(api_client: APIClient, user: User) -> None:
    response = api_client.post(LOGIN_URL, {"username": user.email, "password": DEFAULT_PASSWORD}, format="multipart")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_login_expires_in_matches_the_access_token(api_client: APIClient, user: User) -> None:
    body = assert_token_pair(json_login(api_client, user.email))
    claims = claims_of(body["access_token"])
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["token_type"] == "access"
    assert claims_of(body["refresh_token"])["token_type"] == "refresh"


def test_login_matches_the_email_whatever_its_case(api_client: APIClient) -> None:
    user = UserFactory.create(email="mixed.case@example.com")
    body = assert_token_pair(form_login(api_client, "  MIXED.Case@EXAMPLE.COM", DEFAULT_PASSWORD))
    assert me(api_client, body["access_token"]).json()["id"] == user.pk


def test_login_records_last_login(api_client: APIClient, user: User) -> None:
    assert user.last_login is None
    before = datetime.now(UTC)
    assert_token_pair(json_login(api_client, user.email))
    user.refresh_from_db()
    assert user.last_login is not None
    assert user.last_login >= before - timedelta(seconds=1)


def test_failed_logins_are_indistinguishable(api_client: APIClient, user: User) -> None:
    inactive = UserFactory.create(is_active=False)
    wrong_password = json_login(api_client, user.email, "not-the-password")
    unknown_email = json_login(api_client, "nobody@example.com")
    inactive_account = json_login(api_client, inactive.email)
    malformed_email = json_login(api_client, "not-an-email")

    responses = [wrong_password, unknown_email, inactive_account, malformed_email]
    for response in responses:
        assert_unauthorized(response)
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert len({response.content for response in responses}) == 1
    assert len({response["WWW-Authenticate"] for response in responses}) == 1


def test_failed_login_does_not_record_last_login(api_client: APIClient, user: User) -> None:
    assert_unauthorized(json_login(api_client, user.email, "not-the-password"))
    user.refresh_from_db()
    assert user.last_login is None


def test_inactive_account_with_right_password_gets_no_tokens(api_client: APIClient) -> None:
    inactive = UserFactory.create(is_active=False)
    response = form_login(api_client, inactive.email, DEFAULT_PASSWORD)
    assert_unauthorized(response)
    assert "access_token" not in response.json()


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ({"username": "someone@example.com"}, "password"),
        ({"password": DEFAULT_PASSWORD}, "username"),
    ],
)
def test_login_names_a_missing_field(api_client: APIClient, data: dict[str, str], missing: str) -> None:
    response = api_client.post(LOGIN_URL, data, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    assert missing in body["errors"]


def test_login_form_without_password_names_the_field(api_client: APIClient, user: User) -> None:
    response = api_client.post(LOGIN_URL, f"username={user.email}", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400, response.content
    assert "password" in response.json()["errors"]


def test_login_ignores_a_bad_authorization_header(api_client: APIClient, user: User) -> None:
    response = api_client.post(
        LOGIN_URL,
        {"username": user.email, "password": DEFAULT_PASSWORD},
        format="json",
        HTTP_AUTHORIZATION="Bearer garbage",
    )
    assert_token_pair(response)


# Refresh ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [REFRESH_URL, REFRESH_URL + "/"])
def test_refresh_rotates_the_refresh_token(api_client: APIClient, user: User, url: str) -> None:
    first = assert_token_pair(json_login(api_client, user.email))

    second = assert_token_pair(api_client.post(url, {"refresh_token": first["refresh_token"]}, format="json"))
    assert second["refresh_token"] != first["refresh_token"]
    assert me(api_client, second["access_token"]).json()["id"] == user.pk

    # The new one rotates in turn.
    third = assert_token_pair(refresh(api_client, second["refresh_token"]))
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])

    # A spent token is refused, and presenting it is taken as theft: the session's newest
    # refresh token is refused too.
    again = refresh(api_client, first["refresh_token"])
    assert_unauthorized(again)
    assert again["WWW-Authenticate"].startswith("Bearer")
    assert_unauthorized(refresh(api_client, third["refresh_token"]))


def test_refresh_refuses_an_access_token(api_client: APIClient, user: User) -> None:
    pair = issue_token_pair(user)
    assert_unauthorized(refresh(api_client, pair.access_token))
    # The refresh token is untouched by the failed attempt.
    assert_token_pair(refresh(api_client, pair.refresh_token))


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "\u00e9t\u00e9"])
def test_refresh_refuses_garbage(api_client: APIClient, db: None, garbage: str) -> None:
    response = refresh(api_client, garbage)
    assert_unauthorized(response)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_refresh_refuses_an_expired_refresh_token(api_client: APIClient, user: User) -> None:
    claims = claims_of(issue_token_pair(user).refresh_token)
    claims["exp"] = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())
    assert_unauthorized(refresh(api_client, sign(claims)))


def test_refresh_refuses_a_token_signed_with_another_key(api_client: APIClient, user: User) -> None:
    claims = claims_of(issue_token_pair(user).refresh_token)
    assert_unauthorized(refresh(api_client, sign(claims, OTHER_KEY)))


def test_refresh_refuses_a_token_never_issued(api_client: APIClient, user: User) -> None:
    """Correctly signed, but with a `jti` the server never recorded."""
    claims = claims_of(issue_token_pair(user).refresh_token)
    claims["jti"] = "0" * 32
    assert_unauthorized(refresh(api_client, sign(claims)))


def test_refresh_refuses_a_deactivated_user(api_client: APIClient, user: User) -> None:
    pair = issue_token_pair(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert_unauthorized(refresh(api_client, pair.refresh_token))


@pytest.mark.parametrize("data", [{}, {"refresh_token": ""}, {"refresh_token": None}])
def test_refresh_names_a_missing_token(api_client: APIClient, db: None, data: dict[str, Any]) -> None:
    response = api_client.post(REFRESH_URL, data, format="json")
    assert response.status_code == 400, response.content
    assert "refresh_token" in response.json()["errors"]


# Logout ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [LOGOUT_URL, LOGOUT_URL + "/"])
def test_logout_revokes_the_refresh_token(api_client: APIClient, user: User, url: str) -> None:
    pair = assert_token_pair(json_login(api_client, user.email))

    response = api_client.post(url, {"refresh_token": pair["refresh_token"]}, format="json")
    assert response.status_code == 204, response.content
    assert response.content == b""

    assert_unauthorized(refresh(api_client, pair["refresh_token"]))
    # Logging out twice with the same token is refused too.
    assert_unauthorized(api_client.post(LOGOUT_URL, {"refresh_token": pair["refresh_token"]}, format="json"))


def test_logout_refuses_garbage(api_client: APIClient, db: None) -> None:
    assert_unauthorized(api_client.post(LOGOUT_URL, {"refresh_token": "garbage"}, format="json"))


def test_logout_refuses_an_access_token(api_client: APIClient, user: User) -> None:
    pair = issue_token_pair(user)
    assert_unauthorized(api_client.post(LOGOUT_URL, {"refresh_token": pair.access_token}, format="json"))
    assert_token_pair(refresh(api_client, pair.refresh_token))


def test_logout_leaves_other_sessions_alone(api_client: APIClient, user: User) -> None:
    phone = issue_token_pair(user)
    laptop = issue_token_pair(user)
    response = api_client.post(LOGOUT_URL, {"refresh_token": phone.refresh_token}, format="json")
    assert response.status_code == 204
    assert_token_pair(refresh(api_client, laptop.refresh_token))


# Password hashing ------------------------------------------------------------------------------


def test_production_settings_hash_with_argon2_first() -> None:
    assert config.settings.PASSWORD_HASHERS[0] == ARGON2


def test_users_created_through_the_api_get_an_argon2_hash(
    settings: Settings, admin_client: APIClient, api_client: APIClient
) -> None:
    settings.PASSWORD_HASHERS = list(config.settings.PASSWORD_HASHERS)
    password = "argon-protected-passphrase"
    response = admin_client.post(
        "/api/v1/users/", {"email": "argon@example.com", "password": password, "role": "user"}, format="json"
    )
    assert response.status_code == 201, response.content

    stored = User.objects.get(email="argon@example.com").password
    assert stored.startswith("argon2")
    assert password not in stored
    assert_token_pair(json_login(api_client, "argon@example.com", password))


def test_argon2_cost_comes_from_settings_and_old_hashes_are_upgraded_at_login(
    settings: Settings, api_client: APIClient
) -> None:
    settings.PASSWORD_HASHERS = list(config.settings.PASSWORD_HASHERS)
    settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_COST_KIB, settings.ARGON2_PARALLELISM = 1, 8_192, 1
    user = UserFactory.create(password="first-passphrase-4")
    assert "m=8192,t=1,p=1" in user.password

    settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_COST_KIB = 2, 16_384
    assert_token_pair(json_login(api_client, user.email, "first-passphrase-4"))
    user.refresh_from_db()
    assert "m=16384,t=2,p=1" in user.password
