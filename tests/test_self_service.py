"""Self-service accounts: changing one's email by a mailed link, deleting one's account, exporting it."""

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import RefreshTokenFamily, User
from accounts.tokens import issue_token_pair
from common.jobs import maintenance
from tasks.models import Task
from tests.auth_helpers import assert_token_pair, json_login, me, refresh
from tests.factories import DEFAULT_PASSWORD, AdminFactory, TaskFactory, UserFactory
from tests.test_signup import link_in

# Fixed rate-limit windows: a slow run must not cross a window's end between two counted attempts.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_rate_limit_window")]

ME_URL = "/api/v1/users/me"
CONFIRM_URL = "/api/v1/auth/email-change/confirm"


@pytest.fixture
def patch_me(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    def patch(client: APIClient, body: dict[str, Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.patch(ME_URL, body, format="json")

    return patch


def confirm(client: APIClient, link: dict[str, str], capture: Any) -> Any:
    with capture(execute=True):
        return client.post(CONFIRM_URL, {"uid": link["uid"], "token": link["token"]}, format="json")


def test_an_email_change_applies_only_when_the_link_mailed_to_the_new_address_is_followed(
    user: User,
    user_client: APIClient,
    api_client: APIClient,
    patch_me: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    old_email = user.email
    response = patch_me(user_client, {"email": "New.Address@Example.com", "full_name": "Renamed"})
    assert response.status_code == 200
    assert response.json()["email"] == old_email  # not yet
    assert response.json()["full_name"] == "Renamed"  # the name changes at once
    assert User.objects.get(pk=user.pk).email == old_email
    assert [message.to for message in mail.outbox] == [["new.address@example.com"]]
    link = link_in(mail.outbox[0])
    assert link["url"].startswith("http://localhost:3000/confirm-email?uid=")
    mail.outbox.clear()

    changed = confirm(api_client, link, django_capture_on_commit_callbacks)
    assert changed.status_code == 200
    assert changed.json()["email"] == "new.address@example.com"
    assert User.objects.get(pk=user.pk).email == "new.address@example.com"
    # The old address is told.
    assert [message.to for message in mail.outbox] == [[old_email]]
    assert "new.address@example.com" in str(mail.outbox[0].body)
    assert_token_pair(json_login(api_client, "new.address@example.com"))
    assert json_login(api_client, old_email).status_code == 401
    # The link works once.
    assert confirm(api_client, link, django_capture_on_commit_callbacks).status_code == 400


def test_an_email_change_to_a_taken_address_reveals_nothing_and_mails_nobody(
    user: User, user_client: APIClient, patch_me: Callable[..., Any]
) -> None:
    UserFactory.create(email="taken@example.com")
    free = patch_me(user_client, {"email": "free@example.com"})
    mail.outbox.clear()
    taken = patch_me(user_client, {"email": "taken@example.com"})
    assert taken.status_code == free.status_code == 200
    assert taken.json() == free.json()
    assert mail.outbox == []


def test_an_email_change_link_is_refused_when_the_address_was_taken_meanwhile(
    user: User,
    user_client: APIClient,
    api_client: APIClient,
    patch_me: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    patch_me(user_client, {"email": "wanted@example.com"})
    link = link_in(mail.outbox[0])
    UserFactory.create(email="wanted@example.com")
    response = confirm(api_client, link, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert "email" in response.json()["errors"]
    assert User.objects.get(pk=user.pk).email == user.email


def test_an_expired_email_change_link_is_refused(
    user: User,
    user_client: APIClient,
    api_client: APIClient,
    patch_me: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patch_me(user_client, {"email": "later@example.com"})
    link = link_in(mail.outbox[0])
    settings.EMAIL_VERIFICATION_TIMEOUT = 60
    later = timezone.now().timestamp() + 61
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    assert confirm(api_client, link, django_capture_on_commit_callbacks).status_code == 400
    assert User.objects.get(pk=user.pk).email == user.email


def test_an_email_change_link_cannot_be_tampered_with(
    user: User,
    user_client: APIClient,
    api_client: APIClient,
    patch_me: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    other = UserFactory.create()
    patch_me(user_client, {"email": "mine@example.com"})
    link = link_in(mail.outbox[0])
    from accounts.links import uid_of

    for tampered in ({**link, "uid": uid_of(other)}, {**link, "token": link["token"][:-3] + "abc"}):
        assert confirm(api_client, tampered, django_capture_on_commit_callbacks).status_code == 400
    assert User.objects.get(pk=other.pk).email == other.email


def test_deleting_ones_account_needs_the_password(user: User, user_client: APIClient) -> None:
    response = user_client.delete(ME_URL, {"password": "not-my-password-1"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert User.objects.get(pk=user.pk).is_active
    assert user_client.delete(ME_URL, {}, format="json").status_code == 400


def test_wrong_passwords_to_delete_count_as_failed_logins(
    user: User, user_client: APIClient, settings: Settings
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "login_failures": "2/min"}
    for _ in range(2):
        assert user_client.delete(ME_URL, {"password": "a-guess-0000"}, format="json").status_code == 400
    throttled = user_client.delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert User.objects.get(pk=user.pk).is_active


def test_deleting_ones_account_deactivates_it_and_ends_every_session(user: User, api_client: APIClient) -> None:
    first, second = issue_token_pair(user), issue_token_pair(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {first.access_token}")
    response = client.delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 204
    stored = User.objects.get(pk=user.pk)
    assert not stored.is_active
    assert stored.deletion_requested_at is not None
    for pair in (first, second):
        assert me(api_client, pair.access_token).status_code == 401
        assert refresh(api_client, pair.refresh_token).status_code == 401
    assert json_login(api_client, user.email).status_code == 401
    assert not RefreshTokenFamily.objects.live().filter(user=user).exists()


def test_the_last_active_admin_cannot_delete_itself(client_for: Callable[[User], APIClient]) -> None:
    admin = AdminFactory.create()
    response = client_for(admin).delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 400
    assert "last active admin" in str(response.json()["errors"])
    assert User.objects.get(pk=admin.pk).is_active
    AdminFactory.create()
    assert client_for(admin).delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json").status_code == 204


def test_the_maintenance_job_erases_deleted_accounts_after_the_grace_period(settings: Settings) -> None:
    settings.ACCOUNT_DELETION_GRACE_DAYS = 30
    kept_user, gone_user, recent_user = UserFactory.create(), UserFactory.create(), UserFactory.create()
    TaskFactory.create(owner=kept_user)
    TaskFactory.create_batch(2, owner=gone_user)
    TaskFactory.create(owner=recent_user)
    issue_token_pair(gone_user)
    now = timezone.now()
    User.objects.filter(pk=gone_user.pk).update(is_active=False, deletion_requested_at=now - timedelta(days=31))
    User.objects.filter(pk=recent_user.pk).update(is_active=False, deletion_requested_at=now - timedelta(days=29))

    report = maintenance.call()
    assert "Erased 1 accounts" in report["accounts"]
    assert not User.objects.filter(pk=gone_user.pk).exists()
    assert not Task.objects.filter(owner_id=gone_user.pk).exists()
    assert not RefreshTokenFamily.objects.filter(user_id=gone_user.pk).exists()
    assert set(User.objects.values_list("pk", flat=True)) == {kept_user.pk, recent_user.pk}
    assert Task.objects.count() == 2


def test_an_admin_reactivating_a_deleted_account_saves_it_from_erasure(
    user: User, user_client: APIClient, admin_client: APIClient, settings: Settings
) -> None:
    user_client.delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json")
    assert admin_client.patch(f"/api/v1/users/{user.pk}/", {"is_active": True}, format="json").status_code == 200
    settings.ACCOUNT_DELETION_GRACE_DAYS = 0
    call_command("erase_deleted_accounts", stdout=StringIO())
    assert User.objects.get(pk=user.pk).deletion_requested_at is None


def test_export_answers_the_callers_account_and_own_tasks(user: User, user_client: APIClient) -> None:
    mine = TaskFactory.create_batch(3, owner=user)
    TaskFactory.create(owner=UserFactory.create())
    with CaptureQueriesContext(connection) as queries:
        response = user_client.get(f"{ME_URL}/export")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    body = response.json()
    assert set(body) == {"account", "tasks"}
    assert body["account"]["email"] == user.email
    assert [task["id"] for task in body["tasks"]] == [task.pk for task in mine]
    assert {task["owner"] for task in body["tasks"]} == {user.pk}
    assert len(queries) == 2  # the caller, their tasks


def test_an_admins_export_holds_only_its_own_tasks(admin_user: User, admin_client: APIClient) -> None:
    TaskFactory.create(owner=UserFactory.create())
    own = TaskFactory.create(owner=admin_user)
    assert [task["id"] for task in admin_client.get(f"{ME_URL}/export").json()["tasks"]] == [own.pk]


def test_export_needs_a_signed_in_caller(api_client: APIClient) -> None:
    assert api_client.get(f"{ME_URL}/export").status_code == 401
