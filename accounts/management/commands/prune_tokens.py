from typing import Any

from django.core.management.base import BaseCommand

from accounts.maintenance import prune_tokens
from common.db_timeouts import with_command_timeouts


class Command(BaseCommand):
    help = (
        "Delete expired refresh-token records (and their blacklist entries) and expired sessions, "
        "revoked or not. Run it on a schedule, e.g. hourly (the maintenance job runs it too)."
    )

    @with_command_timeouts("maintenance")
    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(prune_tokens())
