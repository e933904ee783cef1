"""Admin list filters shared by the pages of the model families."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.db import connections, models, router
from django.db.models import QuerySet
from django.http import HttpRequest

#: (concrete subclass, URL value, label) of each kind a filter offers.
Kinds = Sequence[tuple[type[models.Model], str, str]]


class SubclassFilter(admin.SimpleListFilter):
    """Filter a multi-table-inheritance list by concrete kind.

    Subclass it with ``kinds``; each choice keeps the rows that have a row in
    that kind's table (one JOIN, no per-row query).
    """

    title = "kind"
    parameter_name = "kind"
    kinds: Kinds = ()

    def lookups(
        self,
        request: HttpRequest,
        model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
    ) -> list[tuple[str, str]]:
        return [(value, label) for _model, value, label in self.kinds]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        for model, value, _label in self.kinds:
            if self.value() == value:
                return queryset.filter(**{f"{model._meta.model_name}__isnull": False})
        return queryset


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """Django's filter by each value of a column, the values read from the column's index.

    Django's own (``list_filter = ("label",)``) reads ``SELECT DISTINCT`` of
    the column on every view of the list: a scan of the whole table (of
    100,000 jobs: about 5 ms on SQLite, 17 ms on PostgreSQL).  This one
    reads the same values, in the same order, with one query that looks up
    the smallest value in the index, then the next one above it, and so on
    (a loose index scan: a recursive CTE, which SQLite and PostgreSQL both
    run on the index): as many lookups as there are values, however many
    rows there are.  Use it as ``("label", IndexedValuesFilter)`` for an
    indexed column of the model itself (not through a relation), whose
    values are few (a job's label: one per app); NULLs are not offered.
    Like Django's, it offers every value of the table.
    """

    def __init__(
        self,
        field: Any,
        request: HttpRequest,
        params: dict[str, Any],
        model: type[models.Model],
        model_admin: admin.ModelAdmin,  # type: ignore[type-arg]
        field_path: str,
    ) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        # Django's lookup_choices is a lazy DISTINCT query: never run, replaced by a
        # list (the stubs say QuerySet; Django only iterates over it).
        self.lookup_choices = indexed_values(model, field)  # type: ignore[assignment]


def indexed_values(model: type[models.Model], field: Any) -> list[Any]:
    """The distinct non-null values of ``field`` (a column of ``model``), in order, via its index.

    One query; see :class:`IndexedValuesFilter`.
    """
    connection = connections[router.db_for_read(model)]
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(field.column)
    sql = (
        f"WITH RECURSIVE seen(value) AS ("
        f"SELECT MIN({column}) FROM {table} "
        f"UNION ALL "
        f"SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > seen.value) "
        f"FROM seen WHERE seen.value IS NOT NULL"
        f") SELECT value FROM seen WHERE value IS NOT NULL ORDER BY value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]
