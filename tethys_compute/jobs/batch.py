"""Many jobs at once: :meth:`JobManager.create_jobs` and :meth:`JobManager.execute_all`.

A parameter sweep (one job per gauge, per tile...) made of ``create_job`` +
``execute()`` calls costs a few queries and scheduler calls per job.  Here
the same jobs are written and submitted together:

* :func:`create_all` inserts the job rows with one multi-row INSERT per
  table (more only when a batch passes the database's limit on query
  parameters), then sets every job's own folder and ``{id}`` name with one
  UPDATE each;
* :func:`execute_all` reads the jobs' statuses once, gives every job its run
  key in one UPDATE, sends all Dask tasks of one scheduler in one submission
  and publishes their results in one more call, then records the task keys
  and the Submitted status with one UPDATE each.

Each job stays a job of its own afterwards: its own row, status, result and
done callback, refreshed and listed like any other.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.db import connections, models, router, transaction
from django.db.models import Case, CharField, Value, When
from django.db.models.functions import Cast, Concat, Replace
from django.utils import timezone

from tethys_compute.exceptions import InvalidArgumentError, InvalidStatusTransition
from tethys_compute.jobs import batch_condor
from tethys_compute.jobs.status import JobStatus, apply_status
from tethys_compute.models.job import DaskJob, Job, _store_inline_inputs

if TYPE_CHECKING:
    from tethys_compute.jobs.manager import JobManager

__all__ = ["create_all", "execute_all"]

logger = logging.getLogger(__name__)

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


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    size = max(1, size)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert(
    model: type[models.Model], objs: Sequence[Any], fields: list[Any], alias: str
) -> list[Any]:
    """Multi-row INSERTs of ``fields`` of ``objs`` into ``model``'s table; the new ids."""
    returning = model._meta.db_returning_fields
    ids: list[Any] = []
    for part in _chunks(objs, param_limit(alias) // max(1, len(fields))):
        rows = model._base_manager.using(alias)._insert(  # type: ignore[attr-defined]
            part, fields=fields, returning_fields=returning, using=alias
        )
        ids.extend(row[0] for row in rows or [])
    return ids


def create_all(
    manager: JobManager,
    name: str,
    user: Any,
    job_type: Any,
    parameters: Iterable[Mapping[str, Any]],
    groups: Any,
    common: Mapping[str, Any],
) -> list[Job]:
    """What :meth:`JobManager.create_jobs` does (see there)."""
    from tethys_compute.jobs.manager import _as_groups

    built = []
    user_workspace = ""
    for entry in parameters:
        job, user_workspace, inline_inputs, shared = manager._new_job(
            name, user, groups, job_type, {**common, **dict(entry)}
        )
        if inline_inputs is not None:
            raise InvalidArgumentError(
                "create_jobs() takes no input_files given as bytes; write them to files and "
                "give their paths, or create such jobs one by one with create_job()."
            )
        built.append(job)
    if not built:
        return []
    kind = type(built[0])
    if any(type(job) is not kind for job in built):
        raise InvalidArgumentError("create_jobs() makes jobs of one job_type at a time.")
    alias = router.db_for_write(kind)
    now = timezone.now()
    for job in built:
        if job.scheduler_id is not None and not job.scheduler_name and job.scheduler:
            job.scheduler_name = job.scheduler.name
        job.creation_time = now
        _store_inline_inputs(job)
    base_fields = [f for f in Job._meta.local_concrete_fields if not f.primary_key]
    with transaction.atomic(using=alias):
        ids = _insert(Job, built, base_fields, alias)
        if len(ids) != len(built):
            raise InvalidArgumentError(
                f"The {connections[alias].vendor} database did not return the new jobs' ids; "
                "create them one by one with create_job()."
            )
        for job, pk in zip(built, ids, strict=True):
            job.pk = pk
            for link in kind._meta.parents.values():
                if link is not None:
                    setattr(job, link.attname, pk)
        if kind is not Job:
            _insert(kind, built, list(kind._meta.local_concrete_fields), alias)
        table = Job.objects.using(alias)
        for part in _chunks(ids, param_limit(alias) - 10):
            rows = table.filter(pk__in=part)
            if user_workspace:
                rows.update(
                    workspace=Concat(
                        Value(user_workspace + os.sep), Cast("id", output_field=CharField())
                    )
                )
            if "{id}" in name:
                rows.update(
                    name=Replace(
                        "name",
                        Value("{id}"),
                        Cast("id", CharField()),  # type: ignore[arg-type]
                    )
                )
        if groups:
            through = Job.groups.through
            links = [
                through(job_id=job.pk, group_id=group.pk)
                for job in built
                for group in _as_groups(groups)
            ]
            through.objects.using(alias).bulk_create(links, batch_size=None)
    for job in built:
        job._state.adding = False
        job._state.db = alias
        if user_workspace:
            job.workspace = os.path.join(user_workspace, str(job.pk))
        job.name = job.name.replace("{id}", str(job.pk))
        job.remember_saved_fields()
    return built


def execute_all(jobs: Iterable[Job]) -> None:
    """Submit ``jobs`` together (what :meth:`JobManager.execute_all` does).

    Raises
    ------
    InvalidStatusTransition
        When a job is not Pending (nothing is submitted then).
    """
    jobs = list(jobs)
    if not jobs:
        return
    for job in jobs:
        job._save_app_fields()
    rows = dict(
        (pk, (code, version))
        for pk, code, version in Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list(
            "pk", "status_code", "status_version"
        )
    )
    late = [job for job in jobs if rows.get(job.pk, ("", 0))[0] != JobStatus.PENDING]
    if late:
        shown = ", ".join(str(job.pk) for job in late[:10])
        raise InvalidStatusTransition(
            f"{len(late)} of the jobs are not Pending (ids {shown}); execute_all() submitted "
            "none. Call resubmit() on those to run them again, or leave them out."
        )
    by_scheduler: dict[Any, list[DaskJob]] = defaultdict(list)
    condor_jobs: list[Any] = []
    for job in jobs:
        if isinstance(job, DaskJob) and job.function:
            by_scheduler[job.scheduler_id].append(job)
        elif batch_condor.batchable(job):
            condor_jobs.append(job)
        else:
            job.execute()
    for group in by_scheduler.values():
        _execute_dask(group, {job.pk: rows[job.pk][1] for job in group})
    batch_condor.execute_condor(condor_jobs, {job.pk: rows[job.pk][1] for job in condor_jobs})


def _execute_dask(jobs: list[DaskJob], versions: Mapping[int, int]) -> None:
    """One submission and one publication for Pending Dask jobs of one scheduler."""
    import dask
    from django.utils.module_loading import import_string

    from tethys_compute.dask_client import scheduler_call
    from tethys_compute.jobs.callbacks import watch_dask_future
    from tethys_compute.models.job import _live_futures

    alias = router.db_for_write(Job)
    limit = param_limit(alias)
    table = Job.objects.using(alias)
    for job in jobs:
        job.callback_key = secrets.token_urlsafe(18)
        job.callback_seqs = {}
        job.key = f"tethys-job-{job.pk}-{job.callback_key[:8]}"
    # Each job's run key, given only while it is still Pending at the version read.
    claimed = 0
    for part in _chunks(jobs, limit // 4):
        claimed += (
            table.filter(pk__in=[j.pk for j in part], status_code=JobStatus.PENDING)
            .filter(_versions_match(part, versions))
            .update(
                callback_key=Case(
                    *[When(pk=j.pk, then=Value(j.callback_key)) for j in part],
                    output_field=CharField(),
                ),
                callback_seqs={},
            )
        )
    if claimed != len(jobs):
        raise InvalidStatusTransition(
            f"{len(jobs) - claimed} of the jobs changed while being submitted; execute_all() "
            "submitted none. Call it again with the jobs that are still Pending."
        )
    # The task keys are stored before the tasks are sent: a done callback reads them.
    dask_table = DaskJob._base_manager.using(alias)
    for part in _chunks(jobs, limit // 3):
        dask_table.filter(pk__in=[j.pk for j in part]).update(
            key=Case(*[When(pk=j.pk, then=Value(j.key)) for j in part], output_field=CharField())
        )
    client = jobs[0].client
    try:
        work = [
            dask.delayed(import_string(job.function), pure=False)(
                *job.args, dask_key_name=job.key, **job.kwargs
            )
            for job in jobs
        ]
        futures = scheduler_call(client, "compute", work)
        scheduler_call(
            client,
            "publish_dataset",
            override=True,
            **{str(f.key): f for f in futures},
        )
    except Exception as exc:
        for job in jobs:
            apply_status(job, JobStatus.ERROR, message=f"Submission failed: {exc}"[:2000])
        logger.warning("%d Dask jobs: submission failed: %s", len(jobs), exc)
        raise
    for job, future in zip(jobs, futures, strict=True):
        _live_futures[job.key] = future
        watch_dask_future(job, future)
    now = timezone.now()
    for part in _chunks(jobs, limit // 3):
        ids = [j.pk for j in part]
        # A done callback may already have moved a job on: it is then newer than Submitted.
        table.filter(pk__in=ids, status_code=JobStatus.PENDING).update(
            status_code=JobStatus.SUBMITTED,
            status_version=models.F("status_version") + 1,
            status_changed_at=now,
            status_message="",
            execute_time=now,
        )
        table.filter(pk__in=ids, execute_time=None).update(execute_time=now)
    fields = ("status_code", "status_version", "status_changed_at", "status_message")
    by_id = {job.pk: job for job in jobs}
    for part in _chunks(list(by_id), limit - 10):
        for row in table.filter(pk__in=part).values("pk", "execute_time", *fields):
            job = by_id[row.pop("pk")]
            for name, value in row.items():
                setattr(job, name, value)
    for job in jobs:
        job.remember_saved_fields(["key"])


def _versions_match(jobs: Sequence[Job], versions: Mapping[int, int]) -> models.Q:
    """Rows still at the status version read for them (one condition per version seen)."""
    by_version: dict[int, list[int]] = defaultdict(list)
    for job in jobs:
        by_version[versions[job.pk]].append(job.pk)
    condition = models.Q()
    for version, ids in by_version.items():
        condition |= models.Q(status_version=version, pk__in=ids)
    return condition
