from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest
from django.utils import timezone

from accounts.forms import UserAddForm, UserEditForm, UserPasswordForm
from accounts.models import User
from accounts.services import user_update, user_welcome


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users by email and role. There is no delete: deactivate instead, as the API does."""

    form = UserEditForm
    add_form = UserAddForm
    change_password_form = UserPasswordForm
    list_display = ("email", "full_name", "role", "is_active", "email_verified_at", "date_joined", "last_login")
    list_filter = ("role", "is_active", ("email_verified_at", admin.EmptyFieldListFilter))
    search_fields = ("email", "full_name")
    ordering = ("id",)
    filter_horizontal = ()
    readonly_fields = ("email_verified_at", "date_joined", "last_login", "deletion_requested_at")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Access", {"fields": ("role", "is_active")}),
        ("Dates", {"fields": ("email_verified_at", "date_joined", "last_login", "deletion_requested_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "role", "password1", "password2")}),
    )

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        """Changes go through the same service as the API: the last-admin rule, token revocation on
        deactivation, and the security log."""
        if not change:
            obj.email_verified_at = timezone.now()  # an admin made it: it counts as verified
            super().save_model(request, obj, form, change)
            user_welcome(user=obj)
            return
        stored = User.objects.get(pk=obj.pk)
        user_update(
            user=stored,
            by=request.user,  # type: ignore[arg-type]
            email=obj.email,
            full_name=obj.full_name,
            role=obj.role,  # type: ignore[arg-type]
            is_active=obj.is_active,
        )
