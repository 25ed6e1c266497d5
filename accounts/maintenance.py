"""The accounts' steps of the maintenance job (`common.jobs`), also run alone by the commands
`prune_tokens` and `erase_deleted_accounts`."""

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import RefreshTokenFamily
from accounts.services import users_erase_deleted
from common.jobs import maintenance_step

BATCH_SIZE = 5_000


@maintenance_step("tokens")
def prune_tokens() -> str:
    """Delete expired refresh-token records (and their blacklist entries) and expired sessions."""
    now = timezone.now()
    tokens = _delete_in_batches(OutstandingToken.objects.filter(expires_at__lte=now))
    families = _delete_in_batches(RefreshTokenFamily.objects.prunable(now=now))
    return f"Pruned {tokens} expired refresh tokens and {families} expired sessions."


@maintenance_step("accounts")
def erase_deleted_accounts() -> str:
    """Erase the accounts deleted more than the grace period ago (`users_erase_deleted`)."""
    erased = users_erase_deleted()
    return f"Erased {erased} accounts deleted over {settings.ACCOUNT_DELETION_GRACE_DAYS} days ago."


def _delete_in_batches(queryset: QuerySet[Any]) -> int:
    """Delete in small batches, so no single statement holds locks on a large part of a table."""
    deleted = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            return deleted
        queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
