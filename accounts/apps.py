from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    default = True  # the app "accounts" in INSTALLED_APPS; AdminConfig below is named in full
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Registering: the token checks, our auth's OpenAPI description, the maintenance job's steps.
        from accounts import checks, maintenance, schema  # noqa: F401


class AdminConfig(admin_apps.AdminConfig):
    """Django's admin app, with the project's admin site (`accounts.admin_site.AdminSite`)."""

    default = False
    default_site = "accounts.admin_site.AdminSite"
