"""Which of a job's app fields changed since it was loaded or saved.

:meth:`Job.execute` saves what the app set on the job since
``create_job`` (Tethys Platform's meaning).  :class:`SavedFieldsMixin`
keeps a copy of those fields' values as they were last read from or written
to the database, so ``execute()`` writes only the columns that changed (none,
usually) instead of every column of the row.

A job whose saved values are unknown (made without ``create_job`` and never
saved or loaded) reports None: the caller then saves every app field, as
before.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

__all__ = ["SavedFieldsMixin", "app_field_names"]

_SNAPSHOT = "_saved_app_values"


def app_field_names(model: Any, owned: Iterable[str]) -> list[str]:
    """Names of the editable, concrete, non-key fields of ``model`` not in ``owned``."""
    skip = set(owned)
    return [
        f.name
        for f in model._meta.concrete_fields
        if not f.primary_key and f.name not in skip and f.editable
    ]


#: Value types kept as they are in a snapshot (immutable: nothing to copy).
_IMMUTABLE = frozenset(
    {type(None), bool, int, float, str, bytes, datetime.datetime, datetime.date, Decimal, UUID}
)


_FIELDS: dict[Any, tuple[dict[str, str], tuple[str, ...]]] = {}


def _fields(model: Any) -> tuple[dict[str, str], tuple[str, ...]]:
    """``{field name: attribute name}`` of ``model``'s concrete fields, and its app fields."""
    known = _FIELDS.get(model)
    if known is None:
        attnames = {f.name: f.attname for f in model._meta.concrete_fields}
        known = _FIELDS[model] = (
            attnames,
            tuple(app_field_names(model, model.STATE_OWNED_FIELDS)),
        )
    return known


class SavedFieldsMixin:
    """Keeps the app fields' values as last stored, to save only the changed ones.

    The model calls :meth:`remember_saved_fields` from ``from_db`` and
    ``save``.
    """

    #: Fields the state model owns (never part of the app's save); set by the model.
    STATE_OWNED_FIELDS: tuple[str, ...] = ()

    def _app_field_names(self) -> list[str]:
        return list(_fields(type(self))[1])

    def remember_saved_fields(self, names: Iterable[str] | None = None) -> None:
        """Record the current values of ``names`` (default: every app field) as stored."""
        snapshot = self.__dict__.get(_SNAPSHOT)
        if snapshot is None:
            if names is not None:
                return  # a partial save of a job whose other values are unknown
            snapshot = self.__dict__[_SNAPSHOT] = {}
        attnames, app_names = _fields(type(self))
        loaded = self.__dict__
        for name in app_names if names is None else names:
            attname = attnames.get(name)
            if attname is None or attname not in loaded:
                snapshot.pop(name, None)  # deferred: unknown
                continue
            value = loaded[attname]
            # (Every job loaded copies its values: the immutable ones need no copy.)
            snapshot[name] = value if type(value) in _IMMUTABLE else copy.deepcopy(value)

    def changed_app_fields(self) -> list[str] | None:
        """App fields whose value differs from the stored one; None when unknown."""
        snapshot = self.__dict__.get(_SNAPSHOT)
        if snapshot is None:
            return None
        fields = {f.name: f for f in self._meta.concrete_fields}  # type: ignore[attr-defined]
        changed = []
        for name in self._app_field_names():
            attname = fields[name].attname
            if name not in snapshot or snapshot[name] != self.__dict__.get(attname):
                changed.append(name)
        return changed
