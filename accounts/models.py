"""The user: email is the login, the role decides what the user may do."""

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.choices import RevocationReason, Role
from accounts.managers import RefreshTokenFamilyManager, UserManager

__all__ = ["RefreshTokenFamily", "RevocationReason", "Role", "User"]

# A session keeps this much of the client's User-Agent header: enough to recognise the device.
USER_AGENT_MAX_LENGTH = 200


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
    # Set when the owner of the address follows the verification link (or an admin made the account).
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Set when the user deletes their account: it is deactivated at once and erased by the
    # maintenance job after ACCOUNT_DELETION_GRACE_DAYS.
    deletion_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the welcome mail was sent, and when a run of its job took it on: the job may run twice
    # (a worker that died mid-send), the mail goes once, and a run that died before sending it does
    # not stop the next run from sending it.
    welcome_email_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    welcome_email_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects: ClassVar[UserManager] = UserManager()
    # Not a column: whether the session an access token names is live, where the user was loaded
    # with `UserQuerySet.with_session_state` (authentication).
    session_live: bool

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
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

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


class RefreshTokenFamily(models.Model):
    """One login session: the chain of refresh tokens that rotation derives from one login.

    Each refresh token names its family in a signed `fam` claim and is recorded (by `jti`) in
    SimpleJWT's outstanding-token table; a rotated token is blacklisted. Presenting a blacklisted
    token again is taken as theft and revokes the whole family, its newest token included. Access
    tokens name it in `sid` (OpenID Connect's name), so ending the session refuses them too.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="token_families")
    # The login that started the session: it ends REFRESH_SESSION_MAX_DAYS later at the latest.
    created_at = models.DateTimeField(default=timezone.now)
    # When the family's newest refresh token expires: after that nothing in it can be used.
    expires_at = models.DateTimeField()
    # The last login or refresh, and who made it, for the user's list of sessions.
    last_used_at = models.DateTimeField(default=timezone.now)
    user_agent = models.CharField(max_length=USER_AGENT_MAX_LENGTH, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, choices=RevocationReason.choices, blank=True, default="")

    objects: ClassVar[RefreshTokenFamilyManager] = RefreshTokenFamilyManager()

    class Meta:
        verbose_name = "refresh-token family"
        verbose_name_plural = "refresh-token families"
        indexes = (
            models.Index(fields=("user", "revoked_at"), name="accounts_family_user_revoked"),
            models.Index(fields=("expires_at",), name="accounts_family_expires"),
        )

    def __str__(self) -> str:
        return f"Session {self.pk} of user {self.user_id}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
