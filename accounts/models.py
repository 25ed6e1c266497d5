"""The user: email is the login, the role decides what the user may do."""

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.choices import Role
from accounts.managers import UserManager

__all__ = ["Role", "User"]


class User(AbstractBaseUser):
    """An account. Emails are stored lower-cased and unique whatever their case.

    There is no separate staff or superuser flag: an active `admin` is both, so the role is the
    one place that decides access to the API's admin endpoints and to the Django admin site.
    """

    # `unique` indexes the exact lookup a login makes; the constraint below also refuses any
    # spelling that differs only in case, even one written around `normalize_email`.
    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True, default="")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Bumped whenever every token issued so far must stop working (password change, deactivation).
    token_version = models.PositiveIntegerField(default=0, editable=False)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ("id",)
        constraints = (
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                violation_error_message="A user with this email already exists.",
            ),
        )
        indexes = (models.Index(fields=("role", "is_active"), name="accounts_user_role_active"),)

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = UserManager.normalize_email(self.email)

    @property
    def is_admin(self) -> bool:
        return self.is_active and self.role == Role.ADMIN

    # The Django admin site asks for these; they follow the role.
    @property
    def is_staff(self) -> bool:
        return self.is_admin

    @property
    def is_superuser(self) -> bool:
        return self.is_admin

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return self.is_admin

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return self.is_admin

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_admin
