"""Background jobs of the accounts app (Django's `django.tasks`).

Jobs take ids, not secrets: a reset token is made when the mail is sent, so no token is ever
stored in a job queue. A mail that cannot be sent is retried a few times, a minute apart; each
failed attempt is recorded as a failed job, visible in the admin.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.tasks import Task, task
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User


def password_reset_link(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.PASSWORD_RESET_URL.format(uid=uid, token=token)


logger = logging.getLogger(__name__)

MAIL_ATTEMPTS = 3
RETRY_DELAY = timedelta(minutes=1)


def _send(
    job: Task[..., None],
    user_id: int,
    attempt: int,
    subject: str,
    message: str,
    to: str,
    on_failure: Callable[[], None] | None = None,
) -> None:
    """Send one mail; on failure (after `on_failure`) queue the next attempt, if any is left, and fail this one."""
    try:
        send_mail(subject=subject, message=message, from_email=None, recipient_list=[to])
    except Exception:
        if on_failure is not None:
            on_failure()
        if attempt < MAIL_ATTEMPTS:
            job.using(run_after=timezone.now() + RETRY_DELAY).enqueue(user_id=user_id, attempt=attempt + 1)
        logger.exception("mail to user %s failed (attempt %s of %s)", user_id, attempt, MAIL_ATTEMPTS)
        raise


@task()
def send_password_reset_email(user_id: int, attempt: int = 1) -> None:
    """Safe to run twice: each run mails a link made as it is sent, and any link works once."""
    user = User.objects.active().filter(pk=user_id).first()
    if user is None:
        return
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    message = (
        f"Someone asked to reset the password of {user.email}.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n"
        f"{password_reset_link(user)}\n\n"
        "The link works once. If you did not ask for this, ignore this email: your password stays as it is."
    )
    _send(send_password_reset_email, user_id, attempt, "Reset your password", message, user.email)


@task()
def send_welcome_email(user_id: int, attempt: int = 1) -> None:
    """Sent at most once per user, however often the job runs (a worker that died mid-job re-runs it)."""
    user = User.objects.active().filter(pk=user_id).first()
    if user is None or not User.objects.claim_welcome_email(user_id):
        return
    message = (
        f"Hello{' ' + user.full_name if user.full_name else ''},\n\n"
        f"An account with the email {user.email} was created for you. Sign in with this email and the "
        "password you were given, then change the password.\n"
    )
    _send(
        send_welcome_email,
        user_id,
        attempt,
        "Your new account",
        message,
        user.email,
        on_failure=lambda: User.objects.release_welcome_email(user_id),
    )
