from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.forms import UserAddForm, UserEditForm, UserPasswordForm
from accounts.models import RefreshTokenFamily, User
from accounts.services import auth_logout_all, user_update, user_welcome


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
    readonly_fields = ("email_verified_at", "date_joined", "last_login", "deletion_requested_at", "live_sessions")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Access", {"fields": ("role", "is_active")}),
        ("Dates", {"fields": ("email_verified_at", "date_joined", "last_login", "deletion_requested_at")}),
        ("Sessions", {"fields": ("live_sessions", "end_sessions")}),
    )
    actions = ("end_all_sessions",)
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "role", "password1", "password2")}),
    )

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False

    @admin.display(description="Live sessions")
    def live_sessions(self, obj: User) -> str:
        """The user's live sessions, newest first, as the user sees them in the API."""
        sessions = RefreshTokenFamily.objects.of(obj).live().newest_first() if obj.pk else []
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((s.pk, s.created_at, s.last_used_at, s.ip_address or "", s.user_agent) for s in sessions),
        )
        if not rows:
            return "None"
        return format_html(
            "<table><thead><tr><th>Id</th><th>Started</th><th>Last used</th><th>Address</th>"
            "<th>User agent</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="End every session of the selected users")
    def end_all_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ended = sum(auth_logout_all(user=user, by=request.user) for user in queryset)  # type: ignore[arg-type,misc]
        self.message_user(request, f"{ended} session(s) ended.", messages.SUCCESS)

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
        if form.cleaned_data.get("end_sessions"):
            auth_logout_all(user=stored, by=request.user)  # type: ignore[arg-type]
