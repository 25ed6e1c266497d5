from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    default = True  # the app "accounts" in INSTALLED_APPS; AdminConfig below is named in full
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401 (registers the OpenAPI description of our authentication)
        from accounts.checks import verify_token_settings

        verify_token_settings()


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin app, with the project's admin site (`accounts.admin_site.AdminSite`)."""

    default = False
    default_site = "accounts.admin_site.AdminSite"
