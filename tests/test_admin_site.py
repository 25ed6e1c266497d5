"""The Django admin site: who may enter, managing users and tasks, and no query per row."""

from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from tests.factories import DEFAULT_PASSWORD, AdminFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_site(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_an_admin_logs_in_with_email_and_password(admin_user: User) -> None:
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": admin_user.email.upper(), "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_user_role_account_is_refused(user: User) -> None:
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200  # the login form again, with an error
    assert b"staff account" in response.content
    assert client.get("/admin/").status_code == 302


def test_a_deactivated_admin_is_refused() -> None:
    admin = AdminFactory.create(is_active=False)
    client = Client()
    client.post("/admin/login/", {"username": admin.email, "password": DEFAULT_PASSWORD})
    assert client.get("/admin/").status_code == 302


def test_creating_a_user_through_the_admin_hashes_the_password(admin_site: Client) -> None:
    response = admin_site.post(
        "/admin/accounts/user/add/",
        {
            "email": " New.Person@Example.com ",
            "full_name": "New Person",
            "role": Role.USER,
            "password1": "a-fresh-passphrase-42",
            "password2": "a-fresh-passphrase-42",
        },
    )
    assert response.status_code == 302, response.content
    created = User.objects.get(email="new.person@example.com")
    assert created.password != "a-fresh-passphrase-42"
    assert created.check_password("a-fresh-passphrase-42")
    listing = admin_site.get("/admin/accounts/user/", {"q": "new.person"})
    assert b"new.person@example.com" in listing.content


def test_a_user_added_in_the_admin_is_created_by_the_api_service_and_welcomed(
    admin_site: Client, django_capture_on_commit_callbacks: Any
) -> None:
    form = {"email": "welcome@example.com", "role": Role.USER, "password1": "a-fresh-passphrase-42"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_site.post("/admin/accounts/user/add/", {**form, "password2": form["password1"]})
    assert response.status_code == 302, response.content
    created = User.objects.get(email="welcome@example.com")
    assert response["Location"].endswith(f"/admin/accounts/user/{created.pk}/change/")
    assert [message.to for message in mail.outbox] == [["welcome@example.com"]]


def test_the_admin_form_applies_the_password_validators(admin_site: Client) -> None:
    response = admin_site.post(
        "/admin/accounts/user/add/",
        {"email": "weak@example.com", "role": Role.USER, "password1": "password", "password2": "password"},
    )
    assert response.status_code == 200
    assert b"too common" in response.content
    assert not User.objects.filter(email="weak@example.com").exists()


def test_the_admin_form_refuses_an_email_that_differs_only_in_case(admin_site: Client, user: User) -> None:
    response = admin_site.post(
        "/admin/accounts/user/add/",
        {
            "email": user.email.upper(),
            "role": Role.USER,
            "password1": "x-unusual-42-pass",
            "password2": "x-unusual-42-pass",
        },
    )
    assert response.status_code == 200
    assert User.objects.filter(email__iexact=user.email).count() == 1


def test_the_last_admin_cannot_be_demoted_in_the_admin(admin_site: Client, admin_user: User) -> None:
    response = admin_site.post(
        f"/admin/accounts/user/{admin_user.pk}/change/",
        {"email": admin_user.email, "full_name": "", "role": Role.USER, "is_active": "on"},
    )
    assert response.status_code == 200
    assert b"last active admin" in response.content
    admin_user.refresh_from_db()
    assert admin_user.role == Role.ADMIN


def test_deactivating_in_the_admin_revokes_tokens(admin_site: Client, user: User) -> None:
    response = admin_site.post(
        f"/admin/accounts/user/{user.pk}/change/", {"email": user.email, "full_name": "", "role": Role.USER}
    )
    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert not user.is_active
    assert user.token_version == 1


def test_setting_a_password_in_the_admin_revokes_tokens(admin_site: Client, user: User) -> None:
    response = admin_site.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "brand-new-passphrase-7", "password2": "brand-new-passphrase-7", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert user.check_password("brand-new-passphrase-7")
    assert user.token_version == 1


def test_users_cannot_be_deleted_from_the_admin(admin_site: Client, user: User) -> None:
    assert admin_site.get(f"/admin/accounts/user/{user.pk}/delete/").status_code == 403
    assert User.objects.filter(pk=user.pk).exists()


def test_user_list_filters_by_role_and_active(admin_site: Client) -> None:
    UserFactory.create(email="inactive@example.com", is_active=False)
    response = admin_site.get("/admin/accounts/user/", {"role__exact": "user", "is_active__exact": "0"})
    assert response.status_code == 200
    assert b"inactive@example.com" in response.content


def test_task_list_filters_and_searches(admin_site: Client, user: User) -> None:
    TaskFactory.create(owner=user, title="Find the needle", status="done")
    TaskFactory.create(owner=user, title="Haystack", status="todo")
    response = admin_site.get("/admin/tasks/task/", {"status__exact": "done", "q": "needle"})
    assert b"Find the needle" in response.content
    assert b"Haystack" not in response.content
    response = admin_site.get("/admin/tasks/task/", {"owner__id__exact": user.pk})
    assert response.status_code == 200


def test_marking_a_task_done_in_the_admin_stamps_completion(admin_site: Client, user: User) -> None:
    task = TaskFactory.create(owner=user)
    response = admin_site.post(
        f"/admin/tasks/task/{task.pk}/change/",
        {"title": task.title, "description": "", "status": "done", "priority": 2, "owner": user.pk, "due_date": ""},
    )
    assert response.status_code == 302, response.content
    task.refresh_from_db()
    assert task.completed_at is not None


def changelist_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_user_changelist_does_not_query_per_row(admin_site: Client) -> None:
    UserFactory.create()
    few = changelist_queries(admin_site, "/admin/accounts/user/")
    UserFactory.create_batch(50)
    assert changelist_queries(admin_site, "/admin/accounts/user/") == few


def test_task_changelist_does_not_query_per_row(admin_site: Client) -> None:
    TaskFactory.create()
    few = changelist_queries(admin_site, "/admin/tasks/task/")
    owners = UserFactory.create_batch(5)
    for index in range(50):
        TaskFactory.create(owner=owners[index % 5])
    # The owner filter lists each owner once: one query for all of them, not one each.
    assert changelist_queries(admin_site, "/admin/tasks/task/") == few
