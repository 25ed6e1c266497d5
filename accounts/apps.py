from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401 (registers the OpenAPI description of our authentication)
        from accounts.checks import verify_token_settings

        verify_token_settings()
