"""Periodic housekeeping, run as a background job (see `manage.py schedule_maintenance`).

Each app adds what it cleans up as a step (`maintenance_step`, registered when the app is ready), so
that the job runs the apps' own functions without `common` knowing the apps.
"""

import logging
from collections.abc import Callable
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.tasks import task, task_backends
from django_tasks_db import DatabaseBackend

from common.db_timeouts import command_timeouts
from common.job_recovery import requeue_stale_jobs
from common.models import IdempotencyKey

logger = logging.getLogger(__name__)

Step = Callable[[], str]
# The apps' steps, by the name they report under; each returns its line of the report.
_STEPS: dict[str, Step] = {}


def maintenance_step(name: str) -> Callable[[Step], Step]:
    """Make the decorated function a step of the maintenance job, reported under `name`."""

    def register(step: Step) -> Step:
        _STEPS[name] = step
        return step

    return register


@task()
def maintenance() -> dict[str, str]:
    """Run the apps' steps (the accounts': prune expired refresh-token records and sessions, erase
    accounts past their deletion grace period), prune expired idempotency keys and old finished job
    results, re-run stale jobs."""
    with command_timeouts("maintenance"):
        report = {name: step() for name, step in _STEPS.items()}
        pruned, _ = IdempotencyKey.objects.expired().delete()
        report["idempotency_keys"] = f"Pruned {pruned} expired idempotency keys."
        if isinstance(task_backends["default"], DatabaseBackend):
            out = StringIO()
            call_command(
                "prune_db_task_results", min_age_days=settings.TASK_RESULT_RETENTION_DAYS, stdout=out, stderr=out
            )
            report["job_results"] = out.getvalue().strip()
            report["stale_jobs"] = f"Queued {requeue_stale_jobs()} stale jobs to run again."
    logger.info("maintenance done", extra={"report": report})
    return report
