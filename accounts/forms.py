"""Django admin forms for users: the same rules as the API (normalized unique email, last admin)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AdminPasswordChangeForm, BaseUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.services import DUPLICATE_EMAIL, ensure_an_admin_remains, user_save_new_password


def _clean_unique_email(form: forms.ModelForm[User]) -> str:
    email = User.objects.normalize_email(form.cleaned_data.get("email"))
    if User.objects.with_email(email).exclude(pk=form.instance.pk).exists():
        raise forms.ValidationError(DUPLICATE_EMAIL)
    return email


class UserAddForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name", "role")

    def clean_email(self) -> str:
        return _clean_unique_email(self)


class UserEditForm(UserChangeForm):
    end_sessions = forms.BooleanField(
        required=False,
        label="End all sessions",
        help_text="Sign the user out everywhere: every refresh and access token is refused at once.",
    )

    class Meta:
        model = User
        fields = ("email", "full_name", "role", "is_active")

    def clean_email(self) -> str:
        return _clean_unique_email(self)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            ensure_an_admin_remains(user=self.instance, role=cleaned.get("role"), is_active=cleaned.get("is_active"))
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned


class UserPasswordForm(AdminPasswordChangeForm):
    """The admin's "set password" form; like every password change, it revokes earlier tokens."""

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=False)
        return user_save_new_password(user=user) if commit else user
