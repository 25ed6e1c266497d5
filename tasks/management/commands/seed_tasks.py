"""Build a large data set quickly, for measuring the API at scale: users and their tasks.

PostgreSQL gets the rows through COPY (a million tasks in seconds); other databases through
batched bulk inserts. Progress is printed as it goes.
"""

import random
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role, User
from common.db_timeouts import with_command_timeouts
from tasks.models import Priority, Task, TaskStatus

WORDS = ("report", "invoice", "review", "deploy", "meeting", "design", "backup", "release", "audit", "budget")
BATCH_SIZE = 20_000


class Command(BaseCommand):
    help = "Create users (seed-<n>@example.com) each owning many tasks, quickly, with progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=100, help="How many users (default 100).")
        parser.add_argument("--tasks-per-user", type=int, default=10_000, help="Tasks each (default 10,000).")
        parser.add_argument("--password", default="seed-user-passphrase", help="Every seeded user's password.")
        parser.add_argument("--seed", type=int, default=42, help="Random seed, for repeatable data.")

    @with_command_timeouts("maintenance")
    def handle(self, *args: Any, users: int, tasks_per_user: int, password: str, seed: int, **options: Any) -> None:
        started = time.monotonic()
        owners = self._users(users, password)
        total = len(owners) * tasks_per_user
        self.stdout.write(f"Seeding {total:,} tasks for {len(owners):,} users...")
        rows = _task_rows(owners, tasks_per_user, random.Random(seed))  # noqa: S311 (sample data, not secrets)
        inserted = 0
        copy = connection.vendor == "postgresql"
        while batch := [next(rows) for _ in range(min(BATCH_SIZE, total - inserted))]:
            with transaction.atomic():
                if copy:
                    _copy(batch)
                else:
                    _bulk_insert(batch)
            inserted += len(batch)
            elapsed = time.monotonic() - started
            self.stdout.write(
                f"  {inserted:>12,} / {total:,} tasks ({inserted / total:.0%}, {inserted / elapsed:,.0f}/s)"
            )
        if copy:
            # Fresh statistics for the planner, and a visibility map for index-only scans, as
            # autovacuum would leave them on a live table.
            # (VACUUM cannot run inside a transaction: a caller's, such as a test's, gets ANALYZE.)
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
            with connection.cursor() as cursor:
                cursor.execute(f"{command} {Task._meta.db_table}")
        self.stdout.write(self.style.SUCCESS(f"Done: {total:,} tasks in {time.monotonic() - started:.1f} s."))

    def _users(self, count: int, password: str) -> list[int]:
        """The seed users' ids, creating the missing ones; one password hash serves them all."""
        hashed = make_password(password)
        emails = [f"seed-{n}@example.com" for n in range(count)]
        existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
        User.objects.bulk_create(
            [User(email=email, password=hashed, role=Role.USER) for email in emails if email not in existing]
        )
        return list(User.objects.filter(email__in=emails).order_by("id").values_list("id", flat=True))


def _task_rows(owners: list[int], per_user: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Rows in table order: title, description, status, priority, due date, owner, timestamps."""
    statuses = list(TaskStatus)
    priorities = list(Priority)
    today = date.today()
    now = timezone.now()
    for owner in owners:
        for n in range(per_user):
            status = rng.choice(statuses)
            created = now - timedelta(minutes=per_user - n)
            yield (
                f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{n}",
                f"Seeded task {n} about {rng.choice(WORDS)}.",
                status.value,
                rng.choice(priorities).value,
                today + timedelta(days=rng.randint(-60, 120)) if rng.random() < 0.7 else None,
                owner,
                created,
                created,
                created if status == TaskStatus.DONE else None,
            )


COLUMNS = (
    "title",
    "description",
    "status",
    "priority",
    "due_date",
    "owner_id",
    "created_at",
    "updated_at",
    "completed_at",
)


def _copy(batch: list[tuple[Any, ...]]) -> None:
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        with raw.copy(f"COPY {Task._meta.db_table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in batch:
                copy.write_row(row)


def _bulk_insert(batch: list[tuple[Any, ...]]) -> None:
    Task.objects.bulk_create([Task(**dict(zip(COLUMNS, row, strict=True))) for row in batch], batch_size=1000)
