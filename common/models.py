"""What `common` stores: the answers kept for `Idempotency-Key` replays (see `common.idempotency`).

They live here, beneath both apps, because creates of either app (tasks and users) are made
idempotent the same way, and `accounts` may not depend on `tasks`.
"""

from typing import ClassVar

from django.conf import settings
from django.db import models

from common.managers import IdempotencyKeyManager

KEY_MAX_LENGTH = 255


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` of one user: the request it came with and, once done, the answer."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    # SHA-256 of the method, path and JSON body: a repeat must be the same request.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(db_index=True)
    # Empty while the first request is still running.
    status_code = models.PositiveSmallIntegerField(null=True)
    content = models.TextField(default="")

    objects: ClassVar[IdempotencyKeyManager] = IdempotencyKeyManager()

    class Meta:
        constraints = (models.UniqueConstraint(fields=("user", "key"), name="idempotency_key_per_user"),)

    def __str__(self) -> str:
        return self.key
