"""A job for `make fault` only: slow enough to kill its worker in the middle of it."""

import time

from django.tasks import task


@task()
def slow_job(seconds: float, label: str) -> str:
    time.sleep(seconds)
    return label
