"""Requests and token forgeries shared by the auth and security tests."""

import base64
from typing import Any

import jwt
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD
from tests.problem_helpers import assert_problem

LOGIN_URL = "/api/v1/auth/login"
REFRESH_URL = "/api/v1/auth/refresh"
LOGOUT_URL = "/api/v1/auth/logout"
ME_URL = "/api/v1/users/me"
OTHER_KEY = "a-completely-different-signing-key-0123456789-abcdefghijklmnop"


def form_login(client: APIClient, username: str, password: str) -> Any:
    """The earlier FastAPI template's OAuth2 password form, byte for byte."""
    return client.post(
        LOGIN_URL,
        f"username={username}&password={password}",
        content_type="application/x-www-form-urlencoded",
    )


def json_login(client: APIClient, email: str, password: str = DEFAULT_PASSWORD, **headers: Any) -> Any:
    """A JSON login; `headers` as the test client takes them (`HTTP_X_FORWARDED_FOR=...`)."""
    return client.post(LOGIN_URL, {"username": email, "password": password}, format="json", **headers)


def refresh(client: APIClient, token: str) -> Any:
    return client.post(REFRESH_URL, {"refresh_token": token}, format="json")


def me(client: APIClient, access_token: str) -> Any:
    return client.get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {access_token}")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a token this app signed (the signature is checked)."""
    decoded: dict[str, Any] = jwt.decode(
        token, settings.JWT_SECRET_KEY, algorithms=["HS256"], audience=settings.SIMPLE_JWT["AUDIENCE"]
    )
    return decoded


def sign(claims: dict[str, Any], key: str | None = None) -> str:
    return jwt.encode(claims, key or settings.JWT_SECRET_KEY, algorithm="HS256")


def assert_token_pair(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["access_token"]
    assert body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    return body


def assert_unauthorized(response: Any) -> None:
    assert_problem(response, 401)


def logout(client: APIClient, token: str) -> Any:
    return client.post(LOGOUT_URL, {"refresh_token": token}, format="json")
