"""Admin list filters shared by the pages of the model families."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.db import models
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
