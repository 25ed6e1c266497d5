"""Jobs survive a killed worker: stale jobs run again, none runs forever, and running twice is safe."""

import re
import time
from datetime import timedelta
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.tasks import task
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from pytest_django.fixtures import Settings

from accounts import jobs
from accounts.models import User
from common.jobs import maintenance
from tests.factories import UserFactory
from tests.test_settings import load_settings

pytestmark = pytest.mark.django_db(transaction=True)

DATABASE_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@task()
def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


@pytest.fixture(autouse=True)
def _database_jobs(settings: Settings) -> None:
    settings.TASKS = DATABASE_BACKEND


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", stdout=StringIO(), stderr=StringIO())


def killed_mid_job(result_id: str, *, minutes_ago: int) -> DBTaskResult:
    """What a worker killed with SIGKILL while running the job leaves behind: RUNNING, for ever."""
    DBTaskResult.objects.filter(id=result_id).update(
        status="RUNNING", started_at=timezone.now() - timedelta(minutes=minutes_ago), worker_ids=["killed-worker"]
    )
    return DBTaskResult.objects.get(id=result_id)


def test_the_next_worker_reruns_a_job_whose_worker_died() -> None:
    user = UserFactory.create()
    stale = killed_mid_job(jobs.send_password_reset_email.enqueue(user_id=user.pk).id, minutes_ago=11)
    recent = killed_mid_job(jobs.send_password_reset_email.enqueue(user_id=user.pk).id, minutes_ago=1)

    run_worker()

    stale.refresh_from_db()
    assert stale.status == "SUCCESSFUL"
    assert len(stale.worker_ids) == 2
    assert stale.worker_ids[0] == "killed-worker"
    assert [message.to for message in mail.outbox] == [[user.email]]
    # Running for a minute is within JOB_STALE_AFTER_SECONDS: its worker may well be alive.
    assert DBTaskResult.objects.get(id=recent.id).status == "RUNNING"


def test_the_maintenance_job_requeues_stale_jobs(caplog: pytest.LogCaptureFixture) -> None:
    user = UserFactory.create()
    stale = killed_mid_job(jobs.send_welcome_email.enqueue(user_id=user.pk).id, minutes_ago=30)

    report = maintenance.call()

    assert report["stale_jobs"] == "Queued 1 stale jobs to run again."
    assert DBTaskResult.objects.get(id=stale.id).status == "READY"
    assert "its worker is gone; queued to run again" in caplog.text
    run_worker()
    assert DBTaskResult.objects.get(id=stale.id).status == "SUCCESSFUL"
    assert [message.to for message in mail.outbox] == [[user.email]]


def test_a_job_running_longer_than_the_limit_is_stopped_and_marked_failed(settings: Settings) -> None:
    settings.JOB_MAX_RUN_SECONDS = 1
    slow = sleepy.enqueue(seconds=30)
    quick = sleepy.enqueue(seconds=0)

    started = time.monotonic()
    run_worker()

    assert time.monotonic() - started < 10
    stopped = DBTaskResult.objects.get(id=slow.id)
    assert stopped.status == "FAILED"
    assert stopped.exception_class_path == "common.job_recovery.JobTimeout"
    assert "JOB_MAX_RUN_SECONDS" in stopped.traceback
    assert DBTaskResult.objects.get(id=quick.id).status == "SUCCESSFUL"  # the worker went on


def test_stale_must_be_longer_than_the_longest_run() -> None:
    result = load_settings({"DEBUG": "true", "JOB_MAX_RUN_SECONDS": "600", "JOB_STALE_AFTER_SECONDS": "600"})
    assert result.returncode != 0
    assert "JOB_STALE_AFTER_SECONDS (600) must be longer than JOB_MAX_RUN_SECONDS (600)" in result.stderr


def test_a_welcome_mail_is_sent_once_however_often_its_job_runs() -> None:
    user = UserFactory.create()
    jobs.send_welcome_email.call(user_id=user.pk)
    jobs.send_welcome_email.call(user_id=user.pk)  # a re-run after the worker died past the send
    assert [message.to for message in mail.outbox] == [[user.email]]
    assert User.objects.get(pk=user.pk).welcome_email_sent_at is not None


class WorkerKilled(BaseException):
    """What the job sees of SIGKILL: it stops where it is, and no `except Exception` runs."""


def test_a_welcome_mail_whose_worker_died_while_sending_is_sent_by_the_rerun(monkeypatch: pytest.MonkeyPatch) -> None:
    user = UserFactory.create()
    result = jobs.send_welcome_email.enqueue(user_id=user.pk)
    real_send = jobs.deliver

    def killed(message: Any) -> None:
        raise WorkerKilled

    monkeypatch.setattr(jobs, "deliver", killed)
    started = timezone.now() - timedelta(minutes=11)
    with mock.patch("django.utils.timezone.now", return_value=started), pytest.raises(WorkerKilled):
        jobs.send_welcome_email.call(user_id=user.pk)
    killed_mid_job(result.id, minutes_ago=11)

    monkeypatch.setattr(jobs, "deliver", real_send)
    run_worker()

    assert DBTaskResult.objects.get(id=result.id).status == "SUCCESSFUL"
    assert [message.to for message in mail.outbox] == [[user.email]]


def test_a_welcome_mail_that_failed_is_sent_by_the_next_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    user = UserFactory.create()
    real_send = jobs.deliver

    def broken(message: Any) -> None:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(jobs, "deliver", broken)
    with pytest.raises(ConnectionRefusedError):
        jobs.send_welcome_email.call(user_id=user.pk)
    assert User.objects.get(pk=user.pk).welcome_email_sent_at is None

    monkeypatch.setattr(jobs, "deliver", real_send)
    jobs.send_welcome_email.call(user_id=user.pk, attempt=2)
    assert [message.to for message in mail.outbox] == [[user.email]]


def test_a_reset_mail_sent_twice_carries_a_working_link_each_time_and_each_works_once(client: Client) -> None:
    user = UserFactory.create()
    jobs.send_password_reset_email.call(user_id=user.pk)
    jobs.send_password_reset_email.call(user_id=user.pk)
    links = [re.search(r"uid=(\S+)&token=(\S+)", str(message.body)) for message in mail.outbox]
    assert len(links) == 2
    assert all(links)

    def confirm(match: Any, password: str) -> int:
        body = {"uid": match.group(1), "token": match.group(2), "new_password": password}
        return client.post("/api/v1/auth/password-reset/confirm", body, content_type="application/json").status_code

    assert confirm(links[1], "a-brand-new-passphrase-1") == 204
    assert confirm(links[0], "another-new-passphrase-2") == 400  # the password changed: every older link is spent


def test_the_admin_job_list_shows_rerun_jobs(admin_user: User) -> None:
    user = UserFactory.create()
    once = jobs.send_welcome_email.enqueue(user_id=user.pk)
    rerun = killed_mid_job(jobs.send_password_reset_email.enqueue(user_id=user.pk).id, minutes_ago=11)
    run_worker()
    site = Client()
    site.force_login(admin_user)

    listing = site.get("/admin/django_tasks_database/dbtaskresult/")
    assert listing.status_code == 200
    assert "runs" in listing.content.decode()
    rerun_only = site.get("/admin/django_tasks_database/dbtaskresult/", {"rerun": "yes"}).content.decode()
    assert str(rerun.id) in rerun_only
    assert str(once.id) not in rerun_only
    assert str(once.id) in site.get("/admin/django_tasks_database/dbtaskresult/", {"rerun": "no"}).content.decode()
