"""The admin's job list (django-tasks-db's), showing which jobs were run again after their worker died."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from common.job_recovery import rerun_jobs


class RerunFilter(admin.SimpleListFilter):
    title = "re-run"
    parameter_name = "rerun"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Re-run after its worker stopped"), ("no", "Run once")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        rerun = rerun_jobs().values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=rerun)
        if self.value() == "no":
            return queryset.exclude(pk__in=rerun)
        return queryset


admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class JobAdmin(DBTaskResultAdmin):
    list_display = (*DBTaskResultAdmin.list_display, "runs")  # type: ignore[assignment]
    list_filter = (*DBTaskResultAdmin.list_filter, RerunFilter)  # type: ignore[assignment]

    @admin.display(description="runs")
    def runs(self, obj: DBTaskResult) -> str:
        """How many workers claimed the job; more than one: it was run again after a worker died."""
        count = len(obj.worker_ids)
        waiting = obj.status == "READY" and obj.started_at is not None
        return f"{count} (re-run queued)" if waiting else str(count)
