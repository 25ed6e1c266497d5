"""The project's admin site: Django's, with a login that counts failures as the API's does.

Failed admin logins share the API's limits and counters (per account and address, per address),
and log the same `login_failed` and `login_throttled` events with `"channel": "admin"`. Over a
limit the password is not even hashed, and the login page answers 429 with `Retry-After`.
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from accounts import services
from common.client import client_of

TOO_MANY_FAILURES = "Too many failed logins. Try again in %(seconds)s seconds."


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login form, checked by `services.admin_authenticate`; `retry_after` is set when limited."""

    retry_after: int | None = None

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            try:
                self.user_cache = services.admin_authenticate(
                    email=email,
                    password=password,
                    client=client_of(self.request),  # type: ignore[arg-type]
                )
            except services.RateLimitedError as exc:
                self.retry_after = exc.wait
                raise ValidationError(TOO_MANY_FAILURES, code="throttled", params={"seconds": exc.wait}) from exc
            except services.AuthenticationError as exc:
                raise self.get_invalid_login_error() from exc
        return self.cleaned_data


class AdminSite(admin.AdminSite):
    login_form = AdminLoginForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Django's login view; a limited attempt gets its page (styled, with the message) as a 429."""
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        wait = getattr(form, "retry_after", None)
        if wait is not None:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response
