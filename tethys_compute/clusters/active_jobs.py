"""A cluster's active jobs: refuse to stop or terminate under them, or stop them first.

Stopping or terminating a cluster removes its scheduler; a job still active
on that scheduler could then never be stopped.  So, before anything is
touched, :func:`check_active_jobs` either refuses (naming the jobs and the
way out) or, with ``force``, stops each job while its scheduler still
answers, marking it Aborted with the reason; only then are the nodes and the
scheduler records removed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tethys_compute.clusters.exceptions import InvalidOperation
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.jobs.status import ACTIVE_STATUSES, JobStatus, apply_status
from tethys_compute.models.job import Job

__all__ = ["ClusterHasActiveJobs", "active_jobs", "check_active_jobs"]

logger = logging.getLogger(__name__)

#: At most this many jobs are named in a refusal (then "and N more").
_NAMED = 10


class ClusterHasActiveJobs(InvalidOperation):
    """The cluster's schedulers still have active jobs; nothing was touched."""


def active_jobs(scheduler_names: Iterable[str]) -> list[Job]:
    """The active jobs (each as its own kind) on the schedulers called ``scheduler_names``."""
    names = [name for name in scheduler_names if name]
    if not names:
        return []
    query = Job.objects.filter(scheduler__name__in=names, status_code__in=ACTIVE_STATUSES)
    return list(query.select_subclasses().order_by("id"))


def _describe(jobs: list[Job]) -> str:
    shown = [f"{job.pk} ({job.name!r}, {job.status} on {job.scheduler_name!r})" for job in jobs]
    more = len(shown) - _NAMED
    text = ", ".join(shown[:_NAMED])
    return text + (f" and {more} more" if more > 0 else "")


def check_active_jobs(
    cluster: str, scheduler_names: Iterable[str], action: str, *, force: bool
) -> list[Job]:
    """Refuse ``action`` ("stop", "terminate") while jobs are active, or stop them (force).

    Returns
    -------
    list of Job
        The jobs stopped (empty when there were none).

    Raises
    ------
    ClusterHasActiveJobs
        Without ``force``, when the cluster's schedulers have active jobs.
    """
    jobs = active_jobs(scheduler_names)
    if not jobs:
        return []
    if not force:
        ids = " ".join(str(job.pk) for job in jobs)
        raise ClusterHasActiveJobs(
            f"cluster {cluster!r} has {len(jobs)} active job(s): {_describe(jobs)}; nothing "
            f"was changed. Stop them first (`manage.py jobs stop {ids}` or the jobs admin's "
            f"'Stop' action) or wait until they finish, or run `manage.py clusters {action} "
            f"{cluster} --force`"
            + (" (admin: 'Terminate (force)')" if action == "terminate" else "")
            + ", which stops them and marks them Aborted first."
        )
    reason = f"Aborted: cluster {cluster!r} was {'stopped' if action == 'stop' else 'terminated'}"
    for job in jobs:
        try:
            job.stop(reason=reason)
        except TethysComputeError as exc:
            # Not a connection problem (those are handled by stop()): record it all the same.
            logger.warning("cluster %s: job %s could not be stopped: %s", cluster, job.pk, exc)
            apply_status(job, JobStatus.ABORTED, message=f"{reason}; stopping it failed: {exc}")
        logger.info("cluster %s: job %s %s", cluster, job.pk, job.status_message)
    return jobs
