"""django-tasks-db's `db_worker`, made to survive killed workers (see `common.job_recovery`).

The same command and options. In addition the worker puts stale jobs back in the queue when it
starts and then every `sweep_interval()` seconds, and stops any job that runs longer than
`JOB_MAX_RUN_SECONDS`. It overrides the library's command of the same name (`common` comes
before `django_tasks_db` in INSTALLED_APPS), so operators keep running `manage.py db_worker`.
"""

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django_tasks_db.management.commands import db_worker

from common.job_recovery import requeue_stale_jobs, run_time_limit

logger = logging.getLogger(__name__)


def sweep_interval() -> float:
    """Often enough that a stale job waits little past JOB_STALE_AFTER_SECONDS; at most a minute."""
    return min(60.0, settings.JOB_STALE_AFTER_SECONDS / 2)


def sweep(stop: threading.Event) -> None:
    """In a thread of its own (so its own database connection): requeue stale jobs until `stop`."""
    while not stop.wait(sweep_interval()):
        try:
            requeue_stale_jobs()
        except DatabaseError:
            logger.warning("Could not look for stale jobs; trying again in %s s", sweep_interval(), exc_info=True)
        finally:
            connection.close()


class Command(db_worker.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        requeue_stale_jobs()
        stop = threading.Event()
        threading.Thread(target=sweep, args=(stop,), name="stale-job-sweep", daemon=True).start()
        try:
            with run_time_limit(settings.JOB_MAX_RUN_SECONDS):
                super().handle(*args, **options)
        finally:
            stop.set()
