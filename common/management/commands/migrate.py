"""Django's `migrate`, under the migration's own database timeouts (see `common.db_timeouts`).

A migration may rewrite a large table, so no statement limit; but it waits for a lock at most
`DATABASE_COMMAND_TIMEOUTS_MS["migrate"]["lock_timeout"]`: an ALTER TABLE queued behind a long
transaction would make every request on that table queue behind it. Rerun it when it stops there.
"""

from typing import Any

from django.core.management.commands import migrate

from common.db_timeouts import command_timeouts


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        with command_timeouts("migrate", using=options["database"]):
            super().handle(*args, **options)
