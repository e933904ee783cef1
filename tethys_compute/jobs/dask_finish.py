"""Many finished Dask tasks recorded at once: one read, two scheduler calls, one transaction.

The done callbacks of a batch (:meth:`JobManager.execute_all
<tethys_compute.jobs.manager.JobManager.execute_all>`, or many jobs executed
one after another) arrive faster than they can be written one by one: each
would read its job, ask the scheduler for the task's times, fetch its value
and write three versioned updates.  :func:`finish_many` takes every task that
finished well in one go:

1. one query reads the jobs' rows (run key, status, version, options);
2. one ``run_on_scheduler`` reads every task's start and end, and one
   ``gather`` (bounded by ``DASK_CONNECT_TIMEOUT``) fetches every value
   that is to be stored;
3. one transaction moves every job to Complete, each only while its row
   still has the status version read in step 1, sets its times, and stores
   the values (multi-row ``CASE`` updates, chunked to the database's limit
   on query parameters).

What a job ends up with is what the one-by-one path gives it: Complete, the
value stored in ``result`` (none with ``forget``), the task's own times, the
report recorded as the ``dask`` source's first report.  A job this path does
not handle plainly (a results callback to run, earlier reports, a finished
or changed row, a value that cannot be fetched) is returned to the caller,
which records it one by one; so does the whole batch when any row changed
between the read and the write (the transaction is rolled back).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from tethys_compute.conf import compute_settings
from tethys_compute.dask_client import scheduler_call
from tethys_compute.jobs.batch_sql import chunks, param_limit, versions_match
from tethys_compute.jobs.refresh_dask import _make_state_probe, dask_times
from tethys_compute.models.job import DaskJob, Job, _live_futures
from tethys_compute.status import JobStatus

if TYPE_CHECKING:
    from distributed import Client, Future

logger = logging.getLogger("tethys_compute.jobs.callbacks")

__all__ = ["Report", "finish_many"]

#: The statuses a finished task's job may have when its report is written.
_OPEN = (JobStatus.PENDING, JobStatus.SUBMITTED, JobStatus.RUNNING)
#: What the one-by-one path records for the ``dask`` source's report.
_SEQS = {"seq": {"dask": 1}, "exit": {"dask": 0}}


@dataclass(frozen=True)
class Report:
    """A done callback's news: job ``job_id``'s run ``key`` has a done ``future``."""

    job_id: int
    key: str
    future: Future


@dataclass
class _Row:
    report: Report
    version: int
    store: bool
    workspace: str
    times: dict[str, Any]
    value: Any = None


def finish_many(reports: Sequence[Report]) -> list[Report]:
    """Record every report of a task that finished well; return the others.

    ``reports`` share one Dask client (a scheduler).  The reports returned
    are for the one-by-one path (see the module notes); nothing is written
    for them here.
    """
    done = [r for r in reports if r.future.status == "finished"]
    rest = [r for r in reports if r.future.status != "finished"]
    if not done:
        return rest
    rows, others = _read(done)
    if not rows:
        return rest + others
    client = rows[0].report.future.client
    _add_times(client, rows)
    try:
        _add_values(client, [row for row in rows if row.store])
    except Exception as exc:  # noqa: BLE001 - each job's own path says what went wrong
        logger.info("%d Dask jobs: values not fetched together (%s); one by one", len(rows), exc)
        return rest + others + [row.report for row in rows]
    if not _write(rows):
        logger.info("%d Dask jobs changed while being recorded; one by one", len(rows))
        return rest + others + [row.report for row in rows]
    for row in rows:
        _live_futures.pop(str(row.report.future.key), None)
    logger.info("%d Dask jobs: finished, recorded together", len(rows))
    return rest + others


def _read(reports: Sequence[Report]) -> tuple[list[_Row], list[Report]]:
    """The reports this path can take (with their rows' versions), and the others."""
    by_id = {r.job_id: r for r in reports}
    fields = ("pk", "callback_key", "status_code", "status_version", "callback_seqs")
    extra = ("forget", "process_results_function", "workspace")
    found: dict[int, dict[str, Any]] = {}
    for part in chunks(list(by_id), param_limit(router.db_for_read(Job)) - 10):
        for row in DaskJob.objects.filter(pk__in=part).values(*fields, *extra):
            found[row["pk"]] = row
    rows: list[_Row] = []
    others: list[Report] = []
    for job_id, report in by_id.items():
        row = found.get(job_id)
        plain = (
            row is not None
            and row["callback_key"] == report.key
            and row["status_code"] in _OPEN
            and not row["callback_seqs"]
            and not row["process_results_function"]
        )
        if not plain:
            others.append(report)
            continue
        assert row is not None
        rows.append(_Row(report, row["status_version"], not row["forget"], row["workspace"], {}))
    # An earlier report of the same job (a run it no longer has) goes the one-by-one way.
    others.extend(r for r in reports if by_id[r.job_id] is not r)
    return rows, others


def _add_times(client: Client, rows: list[_Row]) -> None:
    """Each task's own start and end from the scheduler (best effort: one call)."""
    keys = [str(row.report.future.key) for row in rows]
    try:
        answer = scheduler_call(
            client, "run_on_scheduler", _make_state_probe(), keys, callback_timeout=5
        )
    except Exception as exc:  # noqa: BLE001 - the times of the write are kept
        logger.info("%d Dask jobs: task times not available: %s", len(rows), exc)
        return
    for row, key in zip(rows, keys, strict=True):
        _state, _text, started, stopped = answer.get(key, (None, "", None, None))
        row.times = dask_times(started, stopped)


def _add_values(client: Client, rows: list[_Row]) -> None:
    """Every value to store, in one bounded ``gather``."""
    if not rows:
        return
    futures: list[Future] = [row.report.future for row in rows]
    values = scheduler_call(
        client,
        "sync",
        client._gather,
        futures,
        callback_timeout=float(compute_settings.DASK_CONNECT_TIMEOUT),
    )
    for row, value in zip(rows, values, strict=True):
        row.value = value


def _when_times(rows: Sequence[_Row], name: str, otherwise: Any) -> Any:
    """A ``CASE`` giving each row its task's ``name`` time, ``otherwise`` for the rest."""
    whens = [
        When(pk=row.report.job_id, then=Value(row.times[name])) for row in rows if name in row.times
    ]
    if not whens:
        return otherwise
    return Case(*whens, default=otherwise, output_field=DateTimeField())


def _write(rows: list[_Row]) -> bool:
    """Complete every row (version-checked) and store the values; False when any row moved."""
    alias = router.db_for_write(Job)
    now = timezone.now()
    result_field = DaskJob._meta.get_field("result")
    size = max(1, param_limit(alias) // 8)
    for row in rows:
        if row.store and row.workspace:
            # A results callback could write there; the one-by-one path makes it too.
            Path(row.workspace).mkdir(parents=True, exist_ok=True)
    try:
        with transaction.atomic(using=alias):
            for part in chunks(rows, size):
                ids = [row.report.job_id for row in part]
                changed = (
                    Job.objects.using(alias)
                    .filter(pk__in=ids, status_code__in=_OPEN)
                    .filter(versions_match({row.report.job_id: row.version for row in part}))
                    .update(
                        status_code=JobStatus.COMPLETE,
                        status_version=F("status_version") + 2,
                        status_changed_at=now,
                        status_message="",
                        refresh_error="",
                        callback_seqs=_SEQS,
                        start_time=_when_times(part, "start_time", F("start_time")),
                        completion_time=_when_times(
                            part, "completion_time", Coalesce(F("completion_time"), Value(now))
                        ),
                    )
                )
                if changed != len(part):
                    raise _Moved
                stored = [row for row in part if row.store]
                if stored:
                    DaskJob._base_manager.using(alias).filter(
                        pk__in=[row.report.job_id for row in stored]
                    ).update(
                        result=Case(
                            *[
                                When(
                                    pk=row.report.job_id,
                                    then=Value(row.value, output_field=result_field),
                                )
                                for row in stored
                            ],
                            output_field=result_field,
                        )
                    )
    except _Moved:
        return False
    return True


class _Moved(Exception):
    """A row changed between the read and the write: the transaction is undone."""
