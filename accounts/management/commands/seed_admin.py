from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, User
from accounts.services import user_create


class Command(BaseCommand):
    help = "Create the first admin from ADMIN_EMAIL and ADMIN_PASSWORD; does nothing if it exists."

    def handle(self, *args: Any, **options: Any) -> None:
        email = User.objects.normalize_email(settings.ADMIN_EMAIL)
        password = settings.ADMIN_PASSWORD
        if not email or not password:
            raise CommandError(
                "Set ADMIN_PASSWORD (and ADMIN_EMAIL) to create the first admin "
                "(the password has a development default only when DEBUG is on)."
            )
        if User.objects.with_email(email).exists():
            self.stdout.write(f"Admin {email} already exists; nothing changed.")
            return
        try:
            user_create(email=email, password=password, role=Role.ADMIN, full_name="Admin")
        except ValidationError as exc:
            messages = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise CommandError(f"Cannot create the admin: {messages}") from exc
        self.stdout.write(self.style.SUCCESS(f"Created admin {email}."))
