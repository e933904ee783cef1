"""Pending Dask jobs of one scheduler submitted together (part of :meth:`JobManager.execute_all`).

:func:`execute_dask` gives every job its run key with one version-checked
UPDATE, stores the task keys with one more (a done callback reads them),
sends all tasks in one ``compute`` and publishes them in one
``publish_dataset``, then records Submitted with one UPDATE.  Each job's
done callback then reports to it on its own (:mod:`~tethys_compute.jobs.dask_reports`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dask
from django.db import models, router
from django.utils import timezone
from django.utils.module_loading import import_string

from tethys_compute.conf import compute_settings
from tethys_compute.dask_client import scheduler_call
from tethys_compute.dask_code import check_code
from tethys_compute.jobs.batch_sql import by_pk, chunks, claim_runs, param_limit
from tethys_compute.jobs.dask_reports import watch_dask_future
from tethys_compute.models.job import DaskJob, Job, _live_futures
from tethys_compute.models.status_update import apply_status
from tethys_compute.status import JobStatus

if TYPE_CHECKING:
    from distributed import Future

__all__ = ["execute_dask"]

logger = logging.getLogger("tethys_compute.jobs.batch")

#: The base job's fields read back once the jobs are Submitted.
_STATUS_FIELDS = (
    "execute_time",
    "status_code",
    "status_version",
    "status_changed_at",
    "status_message",
)


def execute_dask(jobs: list[DaskJob], versions: Mapping[int, int]) -> None:
    """Submit Pending Dask jobs of one scheduler together (see the module notes).

    ``versions`` are the jobs' status versions as read by the caller: a job
    that moved since is not claimed, and then none is submitted.

    Raises
    ------
    InvalidStatusTransition
        When a job changed since ``versions`` were read (nothing is submitted).
    """
    alias = router.db_for_write(Job)
    started = timezone.now()  # the execute time: tasks may finish before they are marked
    _claim(jobs, versions, alias)
    futures = _submit(jobs)
    for job, future in zip(jobs, futures, strict=True):
        _live_futures[job.key] = future
        watch_dask_future(job, future)
    _mark_submitted(jobs, alias, started)
    for job in jobs:
        job.remember_saved_fields(["key"])


def _claim(jobs: list[DaskJob], versions: Mapping[int, int], alias: str) -> None:
    """Give every job its run key and task key while it is still Pending at its version."""
    claim_runs(jobs, versions, alias, "jobs")
    for job in jobs:
        job.key = f"tethys-job-{job.pk}-{job.callback_key[:8]}"
    # The task keys are stored before the tasks are sent: a done callback reads them.
    for part in chunks(jobs, param_limit(alias) // 3):
        DaskJob._base_manager.using(alias).filter(pk__in=[j.pk for j in part]).update(
            key=by_pk(part, "key")
        )


def _submit(jobs: list[DaskJob]) -> list[Future]:
    """One ``compute`` of every job's task and one ``publish_dataset`` of them all.

    First, as ``execute()`` does, the functions' modules are checked on the
    scheduler and its workers (two bounded calls, none when every function
    is the standard library's); a module that cannot be imported there makes
    every job Error and raises :class:`~tethys_compute.exceptions.RemoteImportError`.
    """
    client = jobs[0].client
    scheduler = jobs[0].get_scheduler()
    try:
        functions = {job.function: import_string(job.function) for job in jobs}
        # What execute() checks for one job, once for the batch: every module of its
        # functions importable on the scheduler and the workers (none asked for the
        # standard library's).
        check_code(
            client,
            {
                getattr(f, "__module__", "") or name.rsplit(".", 1)[0]
                for name, f in functions.items()
            },
            label=scheduler.name if scheduler is not None else "",
            timeout=float(
                getattr(scheduler, "timeout", None) or compute_settings.DASK_CONNECT_TIMEOUT
            ),
            functions=list(functions),
        )
        work = [
            dask.delayed(functions[job.function], pure=False)(
                *job.args, dask_key_name=job.key, **job.kwargs
            )
            for job in jobs
        ]
        futures: list[Future] = scheduler_call(client, "compute", work)
        scheduler_call(client, "publish_dataset", override=True, **{str(f.key): f for f in futures})
    except Exception as exc:
        for job in jobs:
            apply_status(job, JobStatus.ERROR, message=f"Submission failed: {exc}"[:2000])
        logger.warning("%d Dask jobs: submission failed: %s", len(jobs), exc)
        raise
    return futures


def _mark_submitted(jobs: list[DaskJob], alias: str, now: Any) -> None:
    """Submitted (for those still Pending) and the execute time ``now``; the jobs read back."""
    limit = param_limit(alias)
    table = Job.objects.using(alias)
    for part in chunks(jobs, limit // 3):
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
    by_id: dict[Any, Job] = {job.pk: job for job in jobs}
    for part_ids in chunks(list(by_id), limit - 10):
        for row in table.filter(pk__in=part_ids).values("pk", *_STATUS_FIELDS):
            job = by_id[row.pop("pk")]
            for name, value in row.items():
                setattr(job, name, value)
