from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.views import APIView


class StableOrderingFilter(OrderingFilter):
    """`?ordering=`, always ending on the primary key so that pages never skip or repeat a row."""

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> list[str]:
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if ordering and ordering[-1].lstrip("-") not in ("id", "pk"):
            ordering.append("-id" if ordering[0].startswith("-") else "id")
        return ordering


class _StrictNullBooleanField(forms.NullBooleanField):
    """`true`/`false` (or absent); anything else is an error, not silently "no filter"."""

    # The default select widget maps unknown values to "unknown" before we could refuse them.
    widget = forms.TextInput

    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise forms.ValidationError("Enter true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = _StrictNullBooleanField


# The largest value a database id column holds (a signed 64-bit integer).
MAX_ID = 2**63 - 1


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """A whole, positive id that a database can hold: `3.5` or a 25-digit number is a 400."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class QueryParamFilterBackend(DjangoFilterBackend):
    """django-filter, skipped when the request names none of the view's filters.

    With no filter in the query string the filter set changes nothing, yet building and validating
    its form costs a good share of a small request (a detail view runs the filter backends too).
    """

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: APIView) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or not any(name in request.query_params for name in filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)
