"""Periodic housekeeping, run as a background job (see `manage.py schedule_maintenance`)."""

import logging
from io import StringIO

from django.conf import settings
from django.core.management import call_command
from django.tasks import task, task_backends
from django_tasks_db import DatabaseBackend

from common.db_timeouts import command_timeouts
from common.job_recovery import requeue_stale_jobs
from common.models import IdempotencyKey

logger = logging.getLogger(__name__)


@task()
def maintenance() -> dict[str, str]:
    """Prune expired refresh-token records and sessions, expired idempotency keys and old finished job
    results; erase accounts past their deletion grace period; re-run stale jobs."""
    with command_timeouts("maintenance"):
        report = {"tokens": _run("prune_tokens"), "accounts": _run("erase_deleted_accounts")}
        pruned, _ = IdempotencyKey.objects.expired().delete()
        report["idempotency_keys"] = f"Pruned {pruned} expired idempotency keys."
        if isinstance(task_backends["default"], DatabaseBackend):
            report["job_results"] = _run("prune_db_task_results", min_age_days=settings.TASK_RESULT_RETENTION_DAYS)
            report["stale_jobs"] = f"Queued {requeue_stale_jobs()} stale jobs to run again."
    logger.info("maintenance done", extra={"report": report})
    return report


def _run(command: str, **options: object) -> str:
    out = StringIO()
    call_command(command, stdout=out, stderr=out, **options)
    return out.getvalue().strip()
