"""Background jobs of the accounts app (Django's `django.tasks`).

Jobs take ids, not secrets: a reset token is made when the mail is sent, so no token is ever
stored in a job queue.
"""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.tasks import task
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User


def password_reset_link(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.PASSWORD_RESET_URL.format(uid=uid, token=token)


@task()
def send_password_reset_email(user_id: int) -> None:
    user = User.objects.active().filter(pk=user_id).first()
    if user is None:
        return
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    send_mail(
        subject="Reset your password",
        message=(
            f"Someone asked to reset the password of {user.email}.\n\n"
            f"To choose a new password, open this link within {minutes} minutes:\n\n"
            f"{password_reset_link(user)}\n\n"
            "The link works once. If you did not ask for this, ignore this email: "
            "your password stays as it is."
        ),
        from_email=None,
        recipient_list=[user.email],
    )
