import django_filters
from django.db.models import Q, QuerySet

from accounts.models import Role, User
from common.filters import StrictBooleanFilter


class UserFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices)
    is_active = StrictBooleanFilter()
    is_verified = StrictBooleanFilter(method="filter_verified", label="Whether the email is verified")
    search = django_filters.CharFilter(method="filter_search", max_length=200, label="Search in email and full name")

    class Meta:
        model = User
        fields = ("role", "is_active")

    def filter_verified(self, queryset: QuerySet[User], name: str, value: bool) -> QuerySet[User]:
        return queryset.filter(email_verified_at__isnull=not value)

    def filter_search(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        return queryset.filter(Q(email__icontains=value) | Q(full_name__icontains=value))
