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
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.db import connections, models, router, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat, Replace
from django.utils import timezone

from tethys_compute.exceptions import InvalidArgumentError, InvalidStatusTransition
from tethys_compute.jobs import batch_condor
from tethys_compute.jobs.batch_dask import execute_dask as _execute_dask
from tethys_compute.jobs.batch_sql import chunks as _chunks
from tethys_compute.jobs.batch_sql import param_limit
from tethys_compute.jobs.new_job import _as_groups
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models.job import DaskJob, Job, _store_inline_inputs

if TYPE_CHECKING:
    from tethys_compute.jobs.manager import JobManager

__all__ = ["create_all", "execute_all"]

logger = logging.getLogger(__name__)


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
    built, user_workspace = _build_all(manager, name, user, job_type, parameters, groups, common)
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
    with transaction.atomic(using=alias):
        ids = _insert_jobs(kind, built, alias)
        _name_and_place(ids, name, user_workspace, alias)
        if groups:
            _share(built, groups, alias)
    for job in built:
        job._state.adding = False
        job._state.db = alias
        if user_workspace:
            job.workspace = os.path.join(user_workspace, str(job.pk))
        job.name = job.name.replace("{id}", str(job.pk))
        job.remember_saved_fields()
    return built


def _build_all(
    manager: JobManager,
    name: str,
    user: Any,
    job_type: Any,
    parameters: Iterable[Mapping[str, Any]],
    groups: Any,
    common: Mapping[str, Any],
) -> tuple[list[Job], str]:
    """The unsaved jobs of ``parameters`` and the user folder (as the last job had it)."""
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
    return built, user_workspace


def _insert_jobs(kind: type[Job], built: list[Job], alias: str) -> list[Any]:
    """The rows of ``built`` (jobs of ``kind``), base table then the kind's; their ids."""
    base_fields = [f for f in Job._meta.local_concrete_fields if not f.primary_key]
    ids = _insert(Job, built, base_fields, alias)
    if len(ids) != len(built):
        raise InvalidArgumentError(
            f"The {connections[alias].vendor} database did not return the new jobs' ids; "
            "create them one by one with create_job()."
        )
    # Every ancestor's primary key too: a DaskJob's ``pk`` is its ``job_ptr_id``,
    # while apps (Tethys code among them) read ``job.id``, the base row's.
    keys = {kind._meta.pk.attname, Job._meta.pk.attname}
    keys.update(parent._meta.pk.attname for parent in kind._meta.get_parent_list())
    keys.update(link.attname for link in kind._meta.parents.values() if link is not None)
    for job, pk in zip(built, ids, strict=True):
        for attname in keys:
            setattr(job, attname, pk)
    if kind is not Job:
        _insert(kind, built, list(kind._meta.local_concrete_fields), alias)
    return ids


def _name_and_place(ids: list[Any], name: str, user_workspace: str, alias: str) -> None:
    """Each new job's own folder under ``user_workspace`` and ``{id}`` in its name, in SQL."""
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


def _share(built: list[Job], groups: Any, alias: str) -> None:
    """Link every job of ``built`` to ``groups`` (one Group or several)."""
    through = Job.groups.through
    links = [
        through(job_id=job.pk, group_id=group.pk) for job in built for group in _as_groups(groups)
    ]
    through.objects.using(alias).bulk_create(links, batch_size=None)


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
