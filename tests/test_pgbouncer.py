"""DATABASE_PGBOUNCER=true makes the app safe behind PgBouncer in transaction mode.

`.ci/run` runs the whole suite a second time through a real PgBouncer (transaction mode) with
`DATABASE_PGBOUNCER=true` and `REQUIRE_PGBOUNCER=1`: then the last tests here prove that the
connection really goes through it.
"""

import os

import pytest
from django.db import connection, transaction

from tasks.models import Task
from tests.factories import TaskFactory
from tests.test_settings import STRONG_JWT_SECRET, STRONG_SECRET, load_settings

PGBOUNCER_ENV = {
    "SECRET_KEY": STRONG_SECRET,
    "JWT_SECRET_KEY": STRONG_JWT_SECRET,
    "DATABASE_URL": "postgres://app:pw@pgbouncer:6432/app",
    "DATABASE_PGBOUNCER": "true",
}


def test_behind_pgbouncer_no_server_side_cursor_no_prepared_statement_no_own_pool() -> None:
    result = load_settings(
        PGBOUNCER_ENV,
        "s.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'],"
        " s.DATABASES['default']['OPTIONS']['prepare_threshold'],"
        " 'pool' in s.DATABASES['default']['OPTIONS'], s.DATABASES['default']['CONN_MAX_AGE']",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(True, None, False, 60)"


def test_without_pgbouncer_server_side_cursors_stay_on() -> None:
    env = {**PGBOUNCER_ENV, "DATABASE_PGBOUNCER": "false"}
    result = load_settings(env, "s.DATABASES['default'].get('DISABLE_SERVER_SIDE_CURSORS', False)")
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"DATABASE_POOL": "true"}, "Set DATABASE_POOL=false with DATABASE_PGBOUNCER=true"),
        ({"DATABASE_URL": "sqlite:///db.sqlite3"}, "DATABASE_PGBOUNCER=true needs a PostgreSQL DATABASE_URL"),
    ],
)
def test_pgbouncer_refuses_settings_that_cannot_work_behind_it(extra: dict[str, str], message: str) -> None:
    result = load_settings({**PGBOUNCER_ENV, **extra})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.django_db(transaction=True)
def test_iterating_a_large_queryset_works_in_and_out_of_a_transaction() -> None:
    """`.iterator()` would open a named (server-side) cursor on PostgreSQL unless it is disabled;
    through a transaction pooler, out of a transaction, the cursor's next fetch could land on
    another server connection and fail."""
    TaskFactory.create_batch(5)
    assert sum(1 for _ in Task.objects.order_by("id").iterator(chunk_size=2)) == 5
    with transaction.atomic():
        assert sum(1 for _ in Task.objects.order_by("id").iterator(chunk_size=2)) == 5


@pytest.mark.django_db
def test_the_pgbouncer_pass_really_goes_through_pgbouncer() -> None:
    """`.ci/run` sets REQUIRE_PGBOUNCER for its pass through PgBouncer, which can then never run
    straight against PostgreSQL: the server's own port differs from the one the app connects to.
    Without it the app talks to the database directly."""
    required = bool(os.environ.get("REQUIRE_PGBOUNCER"))
    if connection.vendor != "postgresql":
        assert not required, "REQUIRE_PGBOUNCER is set but the tests do not run on PostgreSQL"
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT inet_server_port()")
        server_port = str(cursor.fetchone()[0])
    through_pooler = server_port != str(connection.settings_dict["PORT"] or 5432)
    assert through_pooler == required
    assert connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False) == required
