from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F

from tasks.choices import Priority, TaskStatus
from tasks.managers import TaskManager

__all__ = ["Priority", "Task", "TaskStatus"]

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10_000


class Task(models.Model):
    title = models.CharField(max_length=TITLE_MAX_LENGTH)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.TODO)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.MEDIUM)
    due_date = models.DateField(null=True, blank=True)
    # No index of its own: the composite indexes below all start with the owner.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Bumped by every write: the task's ETag is made from it (see `tasks.services`). A database
    # default as well, so that rows copied in by `seed_tasks` get one.
    version = models.PositiveIntegerField(default=1, db_default=1, editable=False)

    objects: ClassVar[TaskManager] = TaskManager()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            # A user's list, newest first (the default page), and each filter within a user's tasks.
            models.Index(fields=("owner", "-created_at", "-id"), name="tasks_owner_created"),
            models.Index(fields=("owner", "status"), name="tasks_owner_status"),
            models.Index(fields=("owner", "due_date"), name="tasks_owner_due"),
            # An admin's list across all owners.
            models.Index(fields=("-created_at", "-id"), name="tasks_created"),
        )

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Every update of a saved task bumps its version in the database (`version = version + 1`).

        The new number comes back in the same UPDATE (RETURNING), so the instance knows its ETag.
        """
        if not self._state.adding:
            self.version = F("version") + 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
        super().save(*args, **kwargs)
