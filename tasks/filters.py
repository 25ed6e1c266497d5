import django_filters
from django.db.models import Q, QuerySet

from common.filters import IdFilter
from tasks.models import Priority, Task, TaskStatus


class TaskFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=TaskStatus.choices)
    priority = django_filters.ChoiceFilter(choices=[(n, n) for n in Priority.labels], method="filter_priority")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte", label="Due on or before")
    due_after = django_filters.DateFilter(field_name="due_date", lookup_expr="gte", label="Due on or after")
    owner = IdFilter(field_name="owner_id", label="Owner's user id (admins)")
    search = django_filters.CharFilter(method="filter_search", max_length=200, label="Search in title and description")

    class Meta:
        model = Task
        fields = ("status", "priority", "due_before", "due_after", "owner")

    def filter_priority(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return queryset.filter(priority=Priority.from_name(value))

    def filter_search(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))
