import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from common.jobs import maintenance


class Command(BaseCommand):
    help = (
        "Queue the maintenance job (pruning tokens and old job results) now and then every "
        "MAINTENANCE_INTERVAL_SECONDS, for the worker to run. --once queues it a single time (for cron)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Queue the job once and exit.")

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        while True:
            result = maintenance.enqueue()
            self.stdout.write(f"Queued maintenance job {result.id}.")
            if once or stop.wait(settings.MAINTENANCE_INTERVAL_SECONDS):
                return
