"""Reads of users: the queryset and the manager the `User` model uses."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth.base_user import BaseUserManager
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property

from accounts.choices import Role
from common.compiled_queries import CompiledQuery

if TYPE_CHECKING:
    from accounts.models import RefreshTokenFamily, User  # noqa: F401 (named in string annotations)


class UserQuerySet(models.QuerySet["User"]):
    def active(self) -> UserQuerySet:
        return self.filter(is_active=True)

    def active_admins(self) -> UserQuerySet:
        return self.filter(is_active=True, role=Role.ADMIN)

    def with_email(self, email: str) -> UserQuerySet:
        """Users whose email matches, whatever its case (emails are stored lower-cased)."""
        return self.filter(email=UserManager.normalize_email(email))

    def deleted_before(self, cutoff: datetime) -> UserQuerySet:
        """Accounts their owners deleted before `cutoff` and nobody has reactivated since."""
        return self.filter(is_active=False, deletion_requested_at__lte=cutoff)

    def with_session_state(self, session_id: int, *, now: datetime | None = None) -> UserQuerySet:
        """Each user with `session_live`: whether their session `session_id` can still be used (at `now`).

        A subquery of the same statement, so authenticating a request stays one query.
        """
        from accounts.models import RefreshTokenFamily  # the models module imports this one

        live = RefreshTokenFamily.objects.live(now=now).filter(pk=session_id, user=models.OuterRef("pk"))
        return self.annotate(session_live=models.Exists(live))

    def claim_welcome_email(self, user_id: int, *, abandoned_before: datetime) -> bool:
        """Take on the user's welcome mail for this run; whether this call took it.

        Not when it was sent, nor while another run holds it: one atomic UPDATE, so of two runs of
        the job only one sends. A claim made before `abandoned_before` belongs to a run that died
        (no run lasts that long), so it is taken over and the mail is not lost.
        """
        unclaimed = models.Q(welcome_email_claimed_at__isnull=True) | models.Q(
            welcome_email_claimed_at__lt=abandoned_before
        )
        claimable = self.filter(unclaimed, pk=user_id, welcome_email_sent_at__isnull=True)
        return bool(claimable.update(welcome_email_claimed_at=timezone.now()))

    def mark_welcome_email_sent(self, user_id: int) -> None:
        self.filter(pk=user_id).update(welcome_email_sent_at=timezone.now())

    def release_welcome_email(self, user_id: int) -> None:
        """The mail could not be sent after all: let the next attempt send it."""
        self.filter(pk=user_id).update(welcome_email_claimed_at=None)


# django-stubs cannot type a dynamic base class; the methods are typed on `UserQuerySet`.
class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    """The queryset's methods (`User.objects.active()`, ...) and what Django's auth asks of a manager."""

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """The whole address lower-cased and trimmed: one spelling per mailbox."""
        return (email or "").strip().lower()

    def for_session(self, *, user_id: int, session_id: int) -> User | None:
        """`with_session_state(session_id).filter(pk=user_id).first()`: the user an access token names.

        Run on every authenticated request, so compiled once per connection (`CompiledQuery`)
        instead of built and compiled each time; the statement and its answer are the same.
        """
        return self._for_session.first(self.db, user_id=user_id, session_id=session_id, now=timezone.now())

    @cached_property
    def _for_session(self) -> CompiledQuery[User]:
        from accounts.models import RefreshTokenFamily  # the models module imports this one

        return CompiledQuery(
            lambda user_id, session_id, now: self.with_session_state(session_id, now=now).filter(pk=user_id),
            user_id=self.model._meta.pk,
            session_id=RefreshTokenFamily._meta.pk,
            now=RefreshTokenFamily._meta.get_field("expires_at"),
        )

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=self.normalize_email(username))

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields["role"] = Role.ADMIN
        return self.create_user(email, password, **fields)


class RefreshTokenFamilyQuerySet(models.QuerySet["RefreshTokenFamily"]):
    def live(self, *, now: datetime | None = None) -> RefreshTokenFamilyQuerySet:
        """Families whose tokens can still be used (at `now`, by default this moment): neither revoked nor expired."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())

    def of(self, user: User) -> RefreshTokenFamilyQuerySet:
        return self.filter(user=user)

    def newest_first(self) -> RefreshTokenFamilyQuerySet:
        return self.order_by("-created_at", "-id")

    def prunable(self, *, now: datetime) -> RefreshTokenFamilyQuerySet:
        """Families past their expiry, revoked or not: none of their tokens can be used again."""
        return self.filter(expires_at__lte=now)


RefreshTokenFamilyManager = models.Manager.from_queryset(RefreshTokenFamilyQuerySet)
