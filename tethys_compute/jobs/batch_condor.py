"""Condor jobs of :func:`~tethys_compute.jobs.batch.execute_all`: one remote command per scheduler.

Pending :class:`~tethys_compute.models.CondorJob` jobs are grouped by
scheduler.  All of them are claimed for their run first (each gets its run's
callback key, hence its own signed callback URL, with one conditional
UPDATE per chunk of jobs); then each scheduler gets ONE remote command
(:func:`tethys_compute.condor.submit_many.submit_many`) that writes every
job's directory, description, inputs and wrapper files and runs one
``condor_submit`` per job.  Every job ends with its own cluster id and
directory, as if it had been executed alone, and is refreshed, paused,
resumed, stopped and deleted on its own.

A job HTCondor refused (or whose input file is missing here) is Error with
the reason; the others are submitted all the same, and
:func:`execute_condor` raises once at the end, naming the failed jobs.
Workflows (:class:`~tethys_compute.models.CondorWorkflow`) are not handled
here: :func:`~tethys_compute.jobs.batch.execute_all` executes them one by
one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.db import models, router
from django.utils import timezone

from tethys_compute.condor.submit_many import Submission, submit_many
from tethys_compute.exceptions import (
    CondorSubmitError,
    TethysComputeError,
)
from tethys_compute.jobs.batch_sql import chunks, claim_runs, param_limit
from tethys_compute.jobs.status import JobStatus, apply_status
from tethys_compute.models.job import CondorJob, Job

__all__ = ["batchable", "execute_condor"]

logger = logging.getLogger(__name__)

#: Fields of a Condor job that a submission sets.
_SUBMITTED_FIELDS = ["remote_dir", "cluster_id", "num_jobs"]


def batchable(job: Job) -> bool:
    """True for a plain Condor job (not a workflow), which :func:`execute_condor` takes."""
    return isinstance(job, CondorJob)


def _chunks(items: Sequence[Any], alias: str, per_item: int) -> Iterator[Sequence[Any]]:
    """Slices of ``items`` small enough for one statement of ``per_item`` parameters each."""
    return chunks(items, (param_limit(alias) - 10) // per_item)


def _fail(job: CondorJob, exc: Exception) -> None:
    apply_status(job, JobStatus.ERROR, message=f"Submission failed: {exc}"[:2000])
    logger.warning("Job %s: submission failed: %s", job.pk, exc)


def _submit_group(jobs: Sequence[CondorJob]) -> tuple[list[CondorJob], list[CondorJob]]:
    """Submit the claimed jobs of one scheduler in one remote command: (submitted, failed)."""
    prepared: list[tuple[CondorJob, Submission]] = []
    failed: list[CondorJob] = []
    for job in jobs:
        try:
            prepared.append((job, job._submission()))
        except TethysComputeError as exc:
            _fail(job, exc)
            failed.append(job)
    if not prepared:
        return [], failed
    try:
        host = prepared[0][0].condor_host
        results = submit_many(host, [submission for _, submission in prepared])
    except Exception as exc:  # noqa: BLE001 - every job of the group records why
        for job, _ in prepared:
            _fail(job, exc)
        return [], failed + [job for job, _ in prepared]
    submitted: list[CondorJob] = []
    for (job, _), result in zip(prepared, results, strict=True):
        if isinstance(result, Exception):
            _fail(job, result)
            failed.append(job)
        else:
            job._took_submission(result)
            submitted.append(job)
    return submitted, failed


def _record(jobs: Sequence[CondorJob], alias: str) -> None:
    """Store the jobs' clusters and directories and make them Submitted (bulk UPDATEs).

    A job that a push already moved on (its wrapper reported "running") keeps
    its newer status.
    """
    CondorJob._base_manager.using(alias).bulk_update(jobs, _SUBMITTED_FIELDS)
    now = timezone.now()
    table = Job.objects.using(alias)
    for part in _chunks(jobs, alias, 1):
        ids = [j.pk for j in part]
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
    for part in _chunks(list(by_id), alias, 1):
        for row in table.filter(pk__in=part).values("pk", "execute_time", *fields):
            job = by_id[row.pop("pk")]
            for name, value in row.items():
                setattr(job, name, value)
    for job in jobs:
        job.remember_saved_fields(_SUBMITTED_FIELDS)


def execute_condor(jobs: Sequence[CondorJob], versions: Mapping[int, int]) -> None:
    """Submit Pending Condor jobs: per scheduler, one remote command for all of them.

    Parameters
    ----------
    jobs : sequence of CondorJob
        Pending plain Condor jobs (any schedulers).
    versions : mapping of int to int
        Each job's ``status_version`` as read when it was found Pending.

    Raises
    ------
    InvalidStatusTransition
        When a job changed since its status was read; none is submitted.
    CondorSubmitError
        After every job was tried, when some could not be submitted; those
        are Error with the reason, the others are Submitted.
    """
    if not jobs:
        return
    alias = router.db_for_write(Job)
    claim_runs(jobs, versions, alias, "Condor jobs")
    by_scheduler: dict[Any, list[CondorJob]] = defaultdict(list)
    for job in jobs:
        by_scheduler[job.scheduler_id].append(job)
    failed: list[CondorJob] = []
    for group in by_scheduler.values():
        submitted, refused = _submit_group(group)
        failed.extend(refused)
        if submitted:
            _record(submitted, alias)
            logger.info("%d Condor jobs: PEN -> SUB in one remote command", len(submitted))
    if failed:
        shown = ", ".join(str(job.pk) for job in failed[:10])
        raise CondorSubmitError(
            f"{len(failed)} of {len(jobs)} Condor jobs could not be submitted (ids {shown}); "
            f"they are Error with the reason (the first: {failed[0].status_message}). The "
            "others were submitted."
        )
