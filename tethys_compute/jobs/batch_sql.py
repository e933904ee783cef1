"""SQL helpers of the batch paths: the database's parameter limit, chunks, version checks."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from django.db import connections, models

__all__ = ["chunks", "param_limit", "versions_match"]

T = TypeVar("T")

#: Parameters a PostgreSQL statement may carry (its wire protocol's limit).
_POSTGRES_PARAMS = 65535


def param_limit(alias: str) -> int:
    """How many parameters one statement may carry on database ``alias``.

    SQLite's own limit (32766 since 3.32) is read from the connection;
    Django assumes 999, which would split a thousand rows into dozens of
    statements.
    """
    connection = connections[alias]
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        try:
            return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        except AttributeError:  # Python < 3.11
            return int(connection.features.max_query_params or 999)
    return int(connection.features.max_query_params or _POSTGRES_PARAMS)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (at least one item each).

    Examples
    --------
    >>> [list(part) for part in chunks([1, 2, 3], 2)]
    [[1, 2], [3]]
    """
    size = max(1, size)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def versions_match(versions: Mapping[Any, int]) -> models.Q:
    """Rows (by id) still at the status version read for them: one condition per version.

    Examples
    --------
    >>> condition = versions_match({1: 3, 2: 3, 5: 4})
    >>> [dict(part.children) for part in condition.children]
    [{'pk__in': [1, 2], 'status_version': 3}, {'pk__in': [5], 'status_version': 4}]
    """
    by_version: dict[int, list[Any]] = defaultdict(list)
    for pk, version in versions.items():
        by_version[version].append(pk)
    condition = models.Q()
    for version, ids in by_version.items():
        condition |= models.Q(status_version=version, pk__in=ids)
    return condition
