"""Queries of the `common` models."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, models
from django.utils import timezone

if TYPE_CHECKING:
    from common.models import IdempotencyKey  # noqa: F401 (named in a string annotation below)

# A first request that has not answered after this long is taken to have died with its process:
# its key may be claimed again rather than answering 409 until it expires.
ABANDONED_AFTER = timedelta(minutes=5)


def _ttl() -> timedelta:
    return timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


class IdempotencyKeyQuerySet(models.QuerySet["IdempotencyKey"]):
    def expired(self) -> IdempotencyKeyQuerySet:
        return self.filter(created_at__lt=timezone.now() - _ttl())

    def claim(self, *, user_id: int, key: str, fingerprint: str) -> bool:
        """Record that a request with `key` has started; `False` if a live record holds the key.

        One statement (INSERT ... ON CONFLICT) decides, so of parallel requests with one key
        exactly one claims it: the database's unique index makes the others wait for it, then
        find the row. An expired or abandoned record is taken over in the same statement.
        """
        now = timezone.now()
        table = connection.ops.quote_name(self.model._meta.db_table)
        sql = (
            f'INSERT INTO {table} (user_id, "key", fingerprint, created_at, status_code, content) '  # noqa: S608
            "VALUES (%s, %s, %s, %s, NULL, '') "
            'ON CONFLICT (user_id, "key") DO UPDATE SET fingerprint = excluded.fingerprint, '
            "created_at = excluded.created_at, status_code = NULL, content = '' "
            f"WHERE {table}.created_at < %s OR ({table}.status_code IS NULL AND {table}.created_at < %s) "
            "RETURNING id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [user_id, key, fingerprint, now, now - _ttl(), now - ABANDONED_AFTER])
            return cursor.fetchone() is not None

    def live(self) -> IdempotencyKeyQuerySet:
        return self.filter(created_at__gte=timezone.now() - _ttl())


IdempotencyKeyManager = models.Manager.from_queryset(IdempotencyKeyQuerySet)
