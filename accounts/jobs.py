"""Background jobs of the accounts app (Django's `django.tasks`): the mails.

Jobs take ids, not secrets: a link's token is made when the mail is sent, so no token is ever
stored in a job queue. Each mail is rendered from `templates/accounts/email/<name>.txt` and
`<name>.html` (the subject is the text version's first line). A mail that cannot be sent is retried
a few times, a minute apart; each failed attempt is recorded as a failed job, visible in the admin.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.tasks import Task, task
from django.template.loader import render_to_string
from django.utils import timezone

from accounts import links
from accounts.models import User

logger = logging.getLogger(__name__)

MAIL_ATTEMPTS = 3
RETRY_DELAY = timedelta(minutes=1)


def render_mail(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """The subject, plain text and HTML of the mail `template`."""
    text = render_to_string(f"accounts/email/{template}.txt", context)
    subject, _, body = text.partition("\n")
    html = render_to_string(f"accounts/email/{template}.html", context)
    return subject.strip(), body.strip() + "\n", html


def _link_hours() -> int:
    return settings.EMAIL_VERIFICATION_TIMEOUT // 3600


def deliver(message: EmailMultiAlternatives) -> None:
    """Hand one mail to the configured mailer (SMTP in production)."""
    message.send()


def _send(
    job: Task[..., None],
    template: str,
    context: dict[str, Any],
    to: str,
    on_failure: Callable[[], None] | None = None,
    **job_args: Any,
) -> None:
    """Send one mail; on failure (after `on_failure`) queue the next attempt, if any is left, and fail this one."""
    subject, text, html = render_mail(template, {"app_name": "Tasks API", **context})
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to])
    message.attach_alternative(html, "text/html")
    attempt = job_args.pop("attempt", 1)
    try:
        deliver(message)
    except Exception:
        if on_failure is not None:
            on_failure()
        if attempt < MAIL_ATTEMPTS:
            job.using(run_after=timezone.now() + RETRY_DELAY).enqueue(**job_args, attempt=attempt + 1)
        logger.exception("mail %s for user %s failed (attempt %s of %s)", template, job_args, attempt, MAIL_ATTEMPTS)
        raise


@task()
def send_password_reset_email(user_id: int, attempt: int = 1) -> None:
    """Safe to run twice: each run mails a link made as it is sent, and any link works once."""
    user = User.objects.active().filter(pk=user_id).first()
    if user is None:
        return
    context = {"user": user, "link": links.password_reset_link(user), "minutes": settings.PASSWORD_RESET_TIMEOUT // 60}
    _send(send_password_reset_email, "password_reset", context, user.email, user_id=user_id, attempt=attempt)


@task()
def send_welcome_email(user_id: int, attempt: int = 1) -> None:
    """Sent once per user, however often the job runs: a worker that died mid-job re-runs it, and the
    re-run sends the mail unless the dead run had sent it (only a death in the instant between the
    mail server's acceptance and the mark sends it twice)."""
    user = User.objects.active().filter(pk=user_id).first()
    abandoned_before = timezone.now() - timedelta(seconds=settings.JOB_MAX_RUN_SECONDS)
    if user is None or not User.objects.claim_welcome_email(user_id, abandoned_before=abandoned_before):
        return
    context = {"user": user, "reset_link": links.password_reset_link(user)}
    _send(
        send_welcome_email,
        "welcome",
        context,
        user.email,
        on_failure=lambda: User.objects.release_welcome_email(user_id),
        user_id=user_id,
        attempt=attempt,
    )
    User.objects.mark_welcome_email_sent(user_id)


@task()
def send_verification_email(user_id: int, attempt: int = 1) -> None:
    user = User.objects.active().filter(pk=user_id, email_verified_at__isnull=True).first()
    if user is None:  # verified in the meantime, or gone: nothing to verify
        return
    context = {"user": user, "link": links.verification_link(user), "hours": _link_hours()}
    _send(send_verification_email, "verify_email", context, user.email, user_id=user_id, attempt=attempt)


@task()
def send_signup_attempt_email(user_id: int, attempt: int = 1) -> None:
    """Tell the owner of a taken email that someone tried to sign up with it."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    context = {"user": user, "reset_link": links.password_reset_link(user) if user.is_active else None}
    _send(send_signup_attempt_email, "signup_attempt", context, user.email, user_id=user_id, attempt=attempt)


@task()
def send_email_change_email(user_id: int, new_email: str, attempt: int = 1) -> None:
    """Mail the confirmation link to the address the user wants to change to."""
    user = User.objects.active().filter(pk=user_id).first()
    if user is None:
        return
    context = {
        "user": user,
        "new_email": new_email,
        "link": links.email_change_link(user, new_email),
        "hours": _link_hours(),
    }
    job_args: dict[str, Any] = {"user_id": user_id, "new_email": new_email, "attempt": attempt}
    _send(send_email_change_email, "email_change", context, new_email, **job_args)


@task()
def send_email_changed_notice(user_id: int, old_email: str, attempt: int = 1) -> None:
    """Tell the old address that the account's email has changed (so a takeover does not go unnoticed)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    context = {"user": user, "old_email": old_email}
    job_args: dict[str, Any] = {"user_id": user_id, "old_email": old_email, "attempt": attempt}
    _send(send_email_changed_notice, "email_changed", context, old_email, **job_args)
