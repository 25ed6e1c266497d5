"""The mails go out through a real SMTP server (aiosmtpd, started here), sent by the job worker."""

import email
import socket
from collections.abc import Iterator
from email.message import Message
from io import StringIO
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from common.mail import ReadableConsoleBackend

# The ports this suite's SMTP servers may use.
SMTP_PORTS = range(2525, 2536)


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    for port in SMTP_PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {SMTP_PORTS}")


@pytest.fixture
def smtp_inbox(settings: Settings) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": controller.port, "timeout": 5},
        }
    }
    yield inbox
    controller.stop()


@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_the_verification_mail_over_smtp_as_text_and_html(
    smtp_inbox: Inbox, settings: Settings
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.FRONTEND_URL = "https://app.example.com"
    response = APIClient().post(
        "/api/v1/auth/signup", {"email": "smtp@example.com", "password": "an-smtp-passphrase-4"}, format="json"
    )
    assert response.status_code == 202
    assert smtp_inbox.messages == []  # queued for the worker, not sent by the request
    assert DBTaskResult.objects.get().task_path == "accounts.jobs.send_verification_email"

    call_command("db_worker", "--batch", "--no-startup-delay", stdout=StringIO(), stderr=StringIO())

    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    [message] = smtp_inbox.messages
    assert message["To"] == "smtp@example.com"
    assert message["Subject"] == "Confirm your email address"
    parts = {part.get_content_type(): _text_of(part) for part in message.walk() if not part.is_multipart()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "https://app.example.com/verify-email?uid=" in parts["text/plain"]
    assert "https://app.example.com/verify-email?uid=" in parts["text/html"]


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_the_development_console_prints_links_as_they_are() -> None:
    from django.core.mail import EmailMessage

    stream = StringIO()
    link = "http://localhost:3000/verify-email?uid=MQ&token=" + "x" * 120
    ReadableConsoleBackend(stream=stream).send_messages([EmailMessage("Hi", f"Open {link}\n", to=["a@example.com"])])
    assert link in stream.getvalue()
    assert "To: a@example.com" in stream.getvalue()
