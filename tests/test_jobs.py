"""Background jobs: the mails and the periodic maintenance, on the immediate and database backends."""

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.tasks import task_backends
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import jobs
from accounts.models import User
from common.jobs import maintenance
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DATABASE_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def test_an_admin_creating_a_user_mails_them_a_welcome(
    admin_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/api/v1/users/",
            {"email": "new@example.com", "password": "a-welcome-passphrase-1", "full_name": "New Person"},
            format="json",
        )
    assert response.status_code == 201
    assert [message.to for message in mail.outbox] == [["new@example.com"]]
    assert "New Person" in str(mail.outbox[0].body)
    assert "a-welcome-passphrase-1" not in str(mail.outbox[0].body)


def test_creating_a_user_in_the_admin_site_mails_a_welcome(
    admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/accounts/user/add/",
            {
                "email": "site@example.com",
                "role": "user",
                "password1": "x-unusual-42-pass",
                "password2": "x-unusual-42-pass",
            },
        )
    assert [message.to for message in mail.outbox] == [["site@example.com"]]


def test_the_seeded_admin_gets_no_welcome_mail(settings: Settings, django_capture_on_commit_callbacks: Any) -> None:
    settings.ADMIN_PASSWORD = "a-long-and-unusual-passphrase"
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_admin", stdout=StringIO())
    assert mail.outbox == []


def test_a_mail_that_cannot_be_sent_fails_the_job_not_the_request(
    admin_client: APIClient, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(jobs, "deliver", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/api/v1/users/", {"email": "new@example.com", "password": "a-welcome-passphrase-1"}, format="json"
        )
    assert response.status_code == 201
    assert User.objects.filter(email="new@example.com").exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_mail_is_recorded_and_retried_later(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.TASKS = DATABASE_BACKEND
    user = UserFactory.create()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(jobs, "deliver", broken)
    first = jobs.send_welcome_email.enqueue(user_id=user.pk)
    call_command("db_worker", "--batch", "--no-startup-delay", "--max-tasks", "1", stdout=StringIO(), stderr=StringIO())

    failed = DBTaskResult.objects.get(id=first.id)
    assert failed.status == "FAILED"
    assert "mail server down" in str(failed.exception_class_path) + str(failed.traceback)
    retry = DBTaskResult.objects.exclude(id=first.id).get()
    assert retry.status == "READY"
    assert retry.args_kwargs["kwargs"] == {"user_id": user.pk, "attempt": 2}
    assert retry.run_after is not None
    assert retry.run_after > timezone.now() + timedelta(seconds=30)


def test_mails_are_attempted_three_times_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    user = UserFactory.create()
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(jobs, "deliver", lambda message: (_ for _ in ()).throw(OSError("down")))
    monkeypatch.setattr(type(jobs.send_welcome_email), "using", lambda self, **kwargs: _Recorder(queued), raising=True)
    result = jobs.send_welcome_email.enqueue(user_id=user.pk, attempt=3)
    assert result.status == "FAILED"
    assert queued == []


class _Recorder:
    def __init__(self, queued: list[dict[str, Any]]) -> None:
        self.queued = queued

    def enqueue(self, **kwargs: Any) -> None:
        self.queued.append(kwargs)


@pytest.mark.django_db(transaction=True)
def test_jobs_queue_in_the_database_for_the_worker(settings: Settings) -> None:
    settings.TASKS = DATABASE_BACKEND
    user = UserFactory.create()
    result = jobs.send_welcome_email.enqueue(user_id=user.pk)
    assert DBTaskResult.objects.get(id=result.id).status == "READY"
    assert mail.outbox == []

    call_command("db_worker", "--batch", "--no-startup-delay", stdout=StringIO(), stderr=StringIO())

    assert DBTaskResult.objects.get(id=result.id).status == "SUCCESSFUL"
    assert [message.to for message in mail.outbox] == [[user.email]]


@pytest.mark.django_db(transaction=True)
def test_maintenance_prunes_expired_tokens_and_old_job_results(settings: Settings, api_client: APIClient) -> None:
    settings.TASKS = DATABASE_BACKEND
    user = UserFactory.create()
    old = jobs.send_welcome_email.enqueue(user_id=user.pk)
    call_command("db_worker", "--batch", "--no-startup-delay", stdout=StringIO(), stderr=StringIO())
    DBTaskResult.objects.filter(id=old.id).update(finished_at=timezone.now() - timedelta(days=30))
    OutstandingToken.objects.create(user=user, jti="expired", token="", expires_at=timezone.now() - timedelta(days=1))

    report = maintenance.call()

    assert "Pruned 1 expired refresh tokens" in report["tokens"]
    assert not DBTaskResult.objects.filter(id=old.id).exists()
    assert not OutstandingToken.objects.filter(jti="expired").exists()


def test_maintenance_runs_on_the_immediate_backend_too() -> None:
    result = maintenance.enqueue()
    assert result.status == "SUCCESSFUL"
    assert set(result.return_value) == {"tokens", "accounts", "idempotency_keys"}


def test_schedule_maintenance_once_queues_one_job(settings: Settings) -> None:
    settings.TASKS = DATABASE_BACKEND
    out = StringIO()
    call_command("schedule_maintenance", "--once", stdout=out)
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "common.jobs.maintenance"
    assert f"Queued maintenance job {queued.id}" in out.getvalue()


def test_tests_run_jobs_with_the_immediate_backend() -> None:
    assert type(task_backends["default"]).__name__ == "ImmediateBackend"
