from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.services import users_erase_deleted


class Command(BaseCommand):
    help = (
        "Erase the accounts their owners deleted more than ACCOUNT_DELETION_GRACE_DAYS ago, with "
        "everything they own. Run by the maintenance job."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        erased = users_erase_deleted()
        self.stdout.write(f"Erased {erased} accounts deleted over {settings.ACCOUNT_DELETION_GRACE_DAYS} days ago.")
