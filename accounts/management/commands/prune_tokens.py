from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import RefreshTokenFamily
from common.db_timeouts import with_command_timeouts

BATCH_SIZE = 5_000


class Command(BaseCommand):
    help = (
        "Delete expired refresh-token records (and their blacklist entries) and expired sessions, "
        "revoked or not. Run it on a schedule, e.g. hourly."
    )

    @with_command_timeouts("maintenance")
    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        tokens = _delete_in_batches(OutstandingToken.objects.filter(expires_at__lte=now))
        families = _delete_in_batches(RefreshTokenFamily.objects.prunable(now=now))
        self.stdout.write(f"Pruned {tokens} expired refresh tokens and {families} expired sessions.")


def _delete_in_batches(queryset: QuerySet[Any]) -> int:
    """Delete in small batches, so no single statement holds locks on a large part of a table."""
    deleted = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            return deleted
        queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
