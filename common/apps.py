from django.apps import AppConfig


class CommonConfig(AppConfig):
    """What every part of the API shares: errors, parsing, rendering, paging, health, docs pages."""

    name = "common"
    verbose_name = "Common"
