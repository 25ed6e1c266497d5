"""Jobs outlive the worker that runs them: stale jobs run again, and no job runs forever.

django-tasks-db marks a job `RUNNING` when a worker claims it and has no lease: if that worker is
killed (SIGKILL, out of memory, node lost) the job stays `RUNNING` for ever. Here:

- every job runs at most `JOB_MAX_RUN_SECONDS`; then it is stopped and marked failed;
- so a job still `RUNNING` after `JOB_STALE_AFTER_SECONDS` (longer) has lost its worker, and is
  put back in the queue, by the next worker that starts (and every worker now and then) and by
  the maintenance job. Jobs are written to be safe to run twice (see `accounts.jobs`).

A re-run job keeps its history: `worker_ids` lists every worker that claimed it, and the admin's
job list shows it (`common.admin`).
"""

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)


def stale_jobs() -> QuerySet[DBTaskResult]:
    """Jobs still `RUNNING` longer than any job may run: their worker is gone."""
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)
    return DBTaskResult.objects.running().filter(started_at__lt=cutoff)


def rerun_jobs() -> QuerySet[DBTaskResult]:
    """Jobs claimed more than once, or put back in the queue and waiting for their next run."""
    return DBTaskResult.objects.filter(
        Q(worker_ids__1__isnull=False) | Q(status=TaskResultStatus.READY, started_at__isnull=False)
    )


def requeue_stale_jobs() -> int:
    """Put every stale job back in the queue, to be run again; how many there were."""
    requeued = 0
    for job in stale_jobs().only("id", "task_path", "started_at", "worker_ids"):
        # Only if still stale: another worker's sweep may have requeued (and re-claimed) it meanwhile.
        if stale_jobs().filter(pk=job.pk).update(status=TaskResultStatus.READY):
            requeued += 1
            logger.warning(
                "Job %s (%s) was still running %s s after it started: its worker is gone; queued to run again",
                job.pk,
                job.task_path,
                settings.JOB_STALE_AFTER_SECONDS,
                extra={"event": "job_requeued", "job_id": str(job.pk), "task": job.task_path},
            )
    return requeued


class JobTimeout(BaseException):
    """Raised inside a job that ran past `JOB_MAX_RUN_SECONDS`.

    A BaseException, as KeyboardInterrupt is, so that a job's own `except Exception` cannot
    swallow it and keep running; the worker records it as the job's failure.
    """


@contextmanager
def run_time_limit(seconds: float) -> Iterator[None]:
    """While the block runs (a worker), every job raises JobTimeout once it has run `seconds`.

    The timer is armed when django.tasks says a job starts and disarmed when it says the job
    finished, so it never fires between jobs. SIGALRM is the main thread's: the autoreloading
    worker of development (`db_worker --reload`), which runs jobs in another thread, has no limit.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise JobTimeout(f"the job ran longer than JOB_MAX_RUN_SECONDS ({seconds:g} s) and was stopped")

    def arm(**kwargs: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)

    def disarm(**kwargs: Any) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    previous = signal.signal(signal.SIGALRM, stop)
    task_started.connect(arm, dispatch_uid="job-run-time-limit")
    task_finished.connect(disarm, dispatch_uid="job-run-time-limit")
    try:
        yield
    finally:
        task_started.disconnect(dispatch_uid="job-run-time-limit")
        task_finished.disconnect(dispatch_uid="job-run-time-limit")
        disarm()
        signal.signal(signal.SIGALRM, previous)
