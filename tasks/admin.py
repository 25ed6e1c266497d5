from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tasks.models import Task
from tasks.services import stamp_completion


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "status", "priority", "due_date", "created_at")
    list_filter = ("status", "priority", "owner")
    list_select_related = ("owner",)
    search_fields = ("title",)
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at", "completed_at")

    def save_model(self, request: HttpRequest, obj: Task, form: Any, change: bool) -> None:
        previous_status = form.initial.get("status") if change else None
        stamp_completion(obj, previous_status=previous_status)
        super().save_model(request, obj, form, change)
