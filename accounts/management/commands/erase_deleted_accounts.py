from typing import Any

from django.core.management.base import BaseCommand

from accounts.maintenance import erase_deleted_accounts


class Command(BaseCommand):
    help = (
        "Erase the accounts their owners deleted more than ACCOUNT_DELETION_GRACE_DAYS ago, with "
        "everything they own. Run by the maintenance job."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(erase_deleted_accounts())
