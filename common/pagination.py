"""List pages: `?page=N` (with a total `count`), or `?cursor=` for lists of any size.

A page number costs a `COUNT` over every matching row and an `OFFSET` that grows with the page; on
a million rows both are slow. A cursor names the last row seen by its sort key (a unique one, such
as `-created_at, -id`), so every page is an index range scan of `page_size` rows and no row is
ever skipped or repeated when rows are added meanwhile. An empty `?cursor=` asks for the first page;
`next` and `previous` carry the cursor for the pages around.
"""

import base64
import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Q, QuerySet
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from common.filters import MAX_ID

CURSOR = "cursor"
INVALID_CURSOR = "Invalid cursor: send back a `next` or `previous` link's cursor, or an empty one."


def public_url(url: str | None) -> str | None:
    """`url` on `PUBLIC_BASE_URL` when it is set, whatever host and port the request named."""
    if url is None or not settings.PUBLIC_BASE_URL:
        return url
    base, parts = urlsplit(settings.PUBLIC_BASE_URL), urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment))


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N&page_size=M`: 20 a page by default, never more than 100; or `?cursor=`, see above.

    Cursor pages are offered by views that name their unique sort key as `cursor_ordering`
    (all fields in one direction, the last one unique); elsewhere `cursor` is an unknown parameter.
    """

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def paginate_queryset(self, queryset: Any, request: Request, view: APIView | None = None) -> Any:
        self.cursor: CursorPage | None = None
        ordering = getattr(view, "cursor_ordering", None)
        if ordering is None or CURSOR not in request.query_params:
            return super().paginate_queryset(queryset, request, view)
        for other in ("page", "ordering"):
            if other in request.query_params:
                raise ValidationError({CURSOR: [f"`cursor` cannot be combined with `{other}`."]})
        self.cursor = CursorPage(queryset, request, ordering, self.get_page_size(request) or self.page_size)
        return self.cursor.rows

    def get_next_link(self) -> str | None:
        return public_url(super().get_next_link())

    def get_previous_link(self) -> str | None:
        return public_url(super().get_previous_link())

    def get_paginated_response(self, data: Any) -> Response:
        if self.cursor is None:
            return super().get_paginated_response(data)
        return Response({"next": self.cursor.next, "previous": self.cursor.previous, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paged = super().get_paginated_response_schema(schema)
        paged["required"] = ["next", "previous", "results"]
        paged["properties"]["count"]["description"] = "Every matching item; only with `?page=` (not `?cursor=`)."
        return paged

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        if getattr(view, "cursor_ordering", None) is None:
            return super().get_schema_operation_parameters(view)
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": CURSOR,
                "required": False,
                "in": "query",
                "description": (
                    "Cursor paging instead of `page`: empty for the first page, then a `next` or `previous` "
                    "link's. No `count`; pages stay fast on lists of any size."
                ),
                "schema": {"type": "string"},
            },
        ]


class CursorPage:
    """One page of `queryset` after (or, going back, before) the position a cursor names."""

    def __init__(self, queryset: QuerySet[Any], request: Request, ordering: tuple[str, ...], size: int) -> None:
        names = [field.lstrip("-") for field in ordering]
        descending = ordering[0].startswith("-")
        position, backwards = _decode(request.query_params[CURSOR], queryset.model, names)
        order = [(name if descending == backwards else f"-{name}") for name in names]
        if position is not None:
            queryset = queryset.filter(_beyond(names, position, less=descending != backwards))
        rows = list(queryset.order_by(*order)[: size + 1])
        more, rows = len(rows) > size, rows[:size]
        if backwards:
            rows.reverse()
        self.rows = rows
        url = public_url(remove_query_param(request.build_absolute_uri(), "page")) or ""
        has_next, has_previous = (position is not None, more) if backwards else (more, position is not None)
        self.next = _link(url, rows[-1], names, backwards=False) if has_next and rows else None
        self.previous = _link(url, rows[0], names, backwards=True) if has_previous and rows else None


def _beyond(names: list[str], values: list[Any], *, less: bool) -> Q:
    """Rows after `values` in the sort order: `a <= x AND (a < x OR <the same for the next fields>)`.

    Written so that the first field bounds an index range scan, whatever the database.
    """
    first, *rest = names
    strict = Q(**{f"{first}__{'lt' if less else 'gt'}": values[0]})
    if not rest:
        return strict
    return Q(**{f"{first}__{'lte' if less else 'gte'}": values[0]}) & (strict | _beyond(rest, values[1:], less=less))


def _link(url: str, row: Model | dict[str, Any], names: list[str], *, backwards: bool) -> str:
    position = [row[name] if isinstance(row, dict) else getattr(row, name) for name in names]
    raw = orjson.dumps({"p": position, "b": backwards}, option=orjson.OPT_UTC_Z)
    return replace_query_param(url, CURSOR, base64.urlsafe_b64encode(raw).decode().rstrip("="))


def _decode(cursor: str, model: type[Model], names: list[str]) -> tuple[list[Any] | None, bool]:
    if not cursor:
        return None, False
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position, backwards = data["p"], data["b"]
        if not isinstance(position, list) or len(position) != len(names) or not isinstance(backwards, bool):
            raise ValueError(cursor)
        values = [_value(model, name, value) for name, value in zip(names, position, strict=True)]
    except (ValueError, TypeError, KeyError, DjangoValidationError) as exc:  # JSON and base64 errors are ValueErrors
        raise ValidationError({CURSOR: [INVALID_CURSOR]}) from exc
    return values, backwards


def _value(model: type[Model], name: str, raw: Any) -> Any:
    """A cursor's value for field `name`, refused unless a database could compare a column with it."""
    field = model._meta.get_field(name)
    value = field.to_python(raw)  # type: ignore[union-attr]
    if value is None or isinstance(value, bool):
        raise ValueError(name)
    if isinstance(value, int) and not -MAX_ID <= value <= MAX_ID:
        raise ValueError(name)
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        raise ValueError(name)
    return value
