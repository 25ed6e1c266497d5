"""Django admin forms for users: the same rules as the API (normalized unique email, last admin)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AdminPasswordChangeForm, BaseUserCreationForm, UserChangeForm

from accounts.models import RevocationReason, Role, User
from accounts.services import DUPLICATE_EMAIL, LAST_ADMIN_DEACTIVATE, LAST_ADMIN_DEMOTE
from accounts.tokens import revoke_all_tokens


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
    class Meta:
        model = User
        fields = ("email", "full_name", "role", "is_active")

    def clean_email(self) -> str:
        return _clean_unique_email(self)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        was_active_admin = User.objects.active_admins().filter(pk=self.instance.pk).exists()
        stays_admin = cleaned.get("role") == Role.ADMIN and cleaned.get("is_active", True)
        if (
            was_active_admin
            and not stays_admin
            and not User.objects.active_admins().exclude(pk=self.instance.pk).exists()
        ):
            if cleaned.get("role") != Role.ADMIN:
                self.add_error("role", LAST_ADMIN_DEMOTE)
            else:
                self.add_error("is_active", LAST_ADMIN_DEACTIVATE)
        return cleaned

    def save(self, commit: bool = True) -> User:
        if "is_active" in self.changed_data and not self.instance.is_active:
            revoke_all_tokens(self.instance, RevocationReason.DEACTIVATION)
        return super().save(commit=commit)


class UserPasswordForm(AdminPasswordChangeForm):
    """The admin's "set password" form; like every password change, it revokes earlier tokens."""

    def save(self, commit: bool = True) -> Any:
        revoke_all_tokens(self.user, RevocationReason.PASSWORD_CHANGE)
        return super().save(commit=commit)
