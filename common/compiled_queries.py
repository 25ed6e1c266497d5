"""A queryset compiled to SQL once per database connection, then run again with new values.

For the few statements sent on every request (authenticating one), whose text never changes:
building, cloning and compiling their queryset costs more than the round trip itself. The
queryset is still written with the ORM, in a manager or queryset; this only keeps its compiled
SQL, and builds the model instance from the row as the ORM would (`Model.from_db`, converters,
annotations).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

# Stand-ins for the values while the queryset is compiled, found again among its parameters by
# their value: far from any real id or time, and each one different.
_SENTINEL_ID = 2**62 + 7_919
_SENTINEL_TIME = dt.datetime(1901, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
_INTEGER_TYPES = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField", "ForeignKey"}


@dataclass(frozen=True)
class _Statement:
    model: type[models.Model]
    sql: str
    params: tuple[Any, ...]
    positions: tuple[tuple[str, int], ...]  # where each named value goes in `params`
    field_names: list[str]  # the model's columns, in the row's order
    model_columns: slice
    annotations: tuple[tuple[str, int], ...]
    converters: tuple[tuple[int, tuple[Callable[..., Any], ...], Any], ...]
    fetch_mode: Any


class CompiledQuery[M: models.Model]:
    """`build(**values)` compiled once per connection; `first(using, **values)` runs it.

    `fields` names, for each value, the model field it is compared with: that field prepares the
    value for the database as the ORM would (a datetime becomes text on SQLite). Only integer
    and datetime fields are supported.
    """

    def __init__(self, build: Callable[..., models.QuerySet[M]], **fields: models.Field[Any, Any]) -> None:
        for name, field in fields.items():
            if field.get_internal_type() not in _INTEGER_TYPES | {"DateTimeField"}:
                raise TypeError(f"{name}: only integer and datetime fields can be compiled once")
        self._build = build
        self._fields = fields
        self._statements: weakref.WeakKeyDictionary[BaseDatabaseWrapper, _Statement] = weakref.WeakKeyDictionary()

    def first(self, using: str, **values: Any) -> M | None:
        """The first instance `build(**values).first()` would return, in one statement."""
        connection = connections[using]
        statement = self._statements.get(connection)
        if statement is None:
            statement = self._statements[connection] = self._compile(connection)
        params = list(statement.params)
        for name, position in statement.positions:
            params[position] = self._fields[name].get_db_prep_value(values[name], connection)
        with connection.cursor() as cursor:
            cursor.execute(statement.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        row = list(row)
        for position, converters, expression in statement.converters:
            for converter in converters:
                row[position] = converter(row[position], expression, connection)
        instance = statement.model.from_db(
            using, statement.field_names, row[statement.model_columns], fetch_mode=statement.fetch_mode
        )
        for name, position in statement.annotations:
            setattr(instance, name, row[position])
        return instance  # type: ignore[return-value]

    def _compile(self, connection: BaseDatabaseWrapper) -> _Statement:
        sentinels = {name: self._sentinel(index, field) for index, (name, field) in enumerate(self._fields.items())}
        queryset = self._build(**sentinels)
        queryset = (queryset if queryset.ordered else queryset.order_by("pk"))[:1]  # as `.first()` does
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        positions = []
        for name, sentinel in sentinels.items():
            prepared = self._fields[name].get_db_prep_value(sentinel, connection)
            found = [position for position, param in enumerate(params) if param == prepared]
            if len(found) != 1:
                raise ValueError(f"{name} is not one parameter of the compiled query: {sql}")
            positions.append((name, found[0]))
        klass_info = compiler.klass_info
        if klass_info is None or klass_info.get("related_klass_infos"):
            raise ValueError("only a queryset of one model, without select_related, can be compiled once")
        columns = klass_info["select_fields"]
        model_columns = slice(columns[0], columns[-1] + 1)
        converters = compiler.get_converters([selected[0] for selected in compiler.select[: compiler.col_count]])
        return _Statement(
            model=klass_info["model"],
            sql=sql,
            params=tuple(params),
            positions=tuple(positions),
            field_names=[selected[0].target.attname for selected in compiler.select[model_columns]],
            model_columns=model_columns,
            annotations=tuple(compiler.annotation_col_map.items()),
            converters=tuple((position, tuple(convs), expr) for position, (convs, expr) in converters.items()),
            fetch_mode=queryset._fetch_mode,  # type: ignore[attr-defined]  # what `.first()` would give its instance
        )

    @staticmethod
    def _sentinel(index: int, field: models.Field[Any, Any]) -> Any:
        if field.get_internal_type() == "DateTimeField":
            return _SENTINEL_TIME + dt.timedelta(microseconds=index + 1)
        return _SENTINEL_ID + index
