"""Django admin forms for users: the API's rules, from the same services (unique email, last admin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth.forms import AdminPasswordChangeForm, BaseUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.services import ensure_an_admin_remains, ensure_email_free, user_save_new_password


def _refusal_as_form_error(form: forms.BaseForm, rule: Callable[..., object], **arguments: Any) -> None:
    """Run a service's rule on what the form holds; its `ValidationError` becomes the form's error."""
    try:
        rule(**arguments)
    except ValidationError as error:
        form.add_error(None, error)


class UserAddForm(BaseUserCreationForm):
    """The admin's "add user" form; `UserAdmin.save_model` creates the user with `user_create`."""

    class Meta:
        model = User
        fields = ("email", "full_name", "role")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "email" in cleaned:
            _refusal_as_form_error(self, ensure_email_free, email=cleaned["email"])
        return cleaned


class UserEditForm(UserChangeForm):
    """The admin's "change user" form; `UserAdmin.save_model` saves it with `user_update`."""

    end_sessions = forms.BooleanField(
        required=False,
        label="End all sessions",
        help_text="Sign the user out everywhere: every refresh and access token is refused at once.",
    )

    class Meta:
        model = User
        fields = ("email", "full_name", "role", "is_active")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "email" in cleaned:
            _refusal_as_form_error(self, ensure_email_free, email=cleaned["email"], user=self.instance)
        role, is_active = cleaned.get("role"), cleaned.get("is_active")
        _refusal_as_form_error(self, ensure_an_admin_remains, user=self.instance, role=role, is_active=is_active)
        return cleaned


class UserPasswordForm(AdminPasswordChangeForm):
    """The admin's "set password" form; like every password change, it revokes earlier tokens."""

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=False)
        return user_save_new_password(user=user) if commit else user
