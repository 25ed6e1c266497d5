"""Reads of tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from accounts.models import User
    from tasks.models import Task  # noqa: F401 (named in a string annotation below)


class TaskQuerySet(models.QuerySet["Task"]):
    def visible_to(self, user: User) -> TaskQuerySet:
        """Every task for an admin; a user's own tasks otherwise."""
        if user.is_admin:
            return self.all()
        return self.filter(owner_id=user.pk)

    def owned_by(self, user: User) -> TaskQuerySet:
        """The user's own tasks, whatever their role."""
        return self.filter(owner_id=user.pk)


TaskManager = models.Manager.from_queryset(TaskQuerySet)
