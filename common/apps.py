from django.apps import AppConfig
from django.core.signals import request_started


class CommonConfig(AppConfig):
    """What every part of the API shares: errors, parsing, rendering, paging, health, docs pages."""

    name = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from common.db_connections import close_dropped_connections

        request_started.connect(close_dropped_connections, dispatch_uid="common.close_dropped_connections")
