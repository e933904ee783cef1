"""SQL helpers of the batch paths: the database's parameter limit, chunks, version checks."""

from __future__ import annotations

import secrets
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from django.apps import apps
from django.db import connections, models
from django.db.models import Case, CharField, Value, When

from tethys_compute.exceptions import InvalidStatusTransition
from tethys_compute.status import JobStatus

__all__ = ["by_pk", "chunks", "claim_runs", "param_limit", "versions_match"]

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


def by_pk(jobs: Sequence[Any], attribute: str) -> Case:
    """A ``CASE`` giving each job's row the value of the job's ``attribute`` (a string)."""
    whens = [When(pk=job.pk, then=Value(getattr(job, attribute))) for job in jobs]
    return Case(*whens, output_field=CharField())


def claim_runs(jobs: Sequence[Any], versions: Mapping[Any, int], alias: str, what: str) -> None:
    """Give each job a new run's callback key, only while it is Pending at its version read.

    ``what`` names the jobs in the error (``"jobs"``, ``"Condor jobs"``).

    Raises
    ------
    InvalidStatusTransition
        When a job changed since ``versions`` were read (then nothing may be submitted).
    """
    for job in jobs:
        job.callback_key = secrets.token_urlsafe(18)
        job.callback_seqs = {}
    table = apps.get_model("tethys_compute", "Job").objects.using(alias)
    claimed = 0
    for part in chunks(jobs, param_limit(alias) // 4):
        claimed += (
            table.filter(pk__in=[j.pk for j in part], status_code=JobStatus.PENDING)
            .filter(versions_match({j.pk: versions[j.pk] for j in part}))
            .update(callback_key=by_pk(part, "callback_key"), callback_seqs={})
        )
    if claimed != len(jobs):
        raise InvalidStatusTransition(
            f"{len(jobs) - claimed} of the {what} changed while being submitted; execute_all() "
            "submitted none of them. Call it again with the jobs that are still Pending."
        )
