"""The earlier FastAPI template's README walk-through, in its exact request forms."""

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient


@pytest.mark.django_db
def test_walkthrough_of_the_earlier_template(settings: Settings) -> None:
    settings.ADMIN_EMAIL = "admin@local.com"
    settings.ADMIN_PASSWORD = "admin123456"
    call_command("seed_admin")
    client = APIClient()

    login = client.post(
        "/api/v1/auth/login",
        "username=admin@local.com&password=admin123456",
        content_type="application/x-www-form-urlencoded",
    )
    assert login.status_code == 200, login.content
    body = login.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"]
    assert body["refresh_token"]
    token = body["access_token"]

    created = client.post(
        "/api/v1/users/",
        {"email": "user1@local.com", "password": "user123456", "role": "user"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert created.status_code == 201, created.content
    assert created.json()["email"] == "user1@local.com"

    user_login = client.post(
        "/api/v1/auth/login",
        "username=user1@local.com&password=user123456",
        content_type="application/x-www-form-urlencoded",
    )
    assert user_login.status_code == 200, user_login.content
    user_token = user_login.json()["access_token"]

    task = client.post(
        "/api/v1/tasks/",
        {"title": "My first task"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {user_token}",
    )
    assert task.status_code == 201, task.content
    assert task.json()["title"] == "My first task"

    listing = client.get("/api/v1/tasks/", HTTP_AUTHORIZATION=f"Bearer {user_token}")
    assert listing.status_code == 200
    assert [t["title"] for t in listing.json()["results"]] == ["My first task"]
