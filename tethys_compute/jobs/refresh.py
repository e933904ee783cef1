"""The batched status refresher: one round trip per scheduler, outside requests.

:func:`refresh_jobs` reads every active job (and workflow node) in a few
queries, groups them by scheduler and asks each scheduler **once**:

* a Condor scheduler: one remote command (``condor_q`` + ``condor_history``
  with ``-json``, framed apart by :func:`~tethys_compute.condor.run_batch`)
  whose constraint names every cluster of its jobs and every DAG
  (``DAGManJobId``) of its workflows;
* a Dask scheduler: one ``run_on_scheduler`` call returning the state of
  every tracked task key.

A scheduler with more than ``TETHYS_COMPUTE['JOB_REFRESH_CHUNK']`` active
jobs (5,000) is asked in chunks of that size, one round trip each, so a
refresh holds one chunk per scheduler in memory, not every job.

Schedulers are asked in parallel (a few threads), each within a bounded
time.  The answers are applied with conditional updates on the versions read
*before* asking (:func:`~tethys_compute.jobs.status.apply_status`), so a
push that arrived meanwhile wins.  A scheduler that cannot be reached leaves
its jobs' statuses as they were: ``refresh_error`` says why and
``last_refresh_ok_at`` keeps the time of the last good refresh.

``python manage.py compute_refresh`` runs this once, or in a bounded loop
(``--loop``) as a service.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from tethys_compute.conf import compute_settings
from tethys_compute.counters import remote_calls
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.jobs.refresh_condor import MAX_TERMS_PER_QUERY as MAX_TERMS_PER_QUERY
from tethys_compute.jobs.refresh_condor import (
    apply_condor,
    condor_query,
    condor_status,
)
from tethys_compute.jobs.refresh_dask import _make_state_probe as _make_state_probe
from tethys_compute.jobs.refresh_dask import (
    apply_dask,
    dask_query,
    dask_status,
)
from tethys_compute.jobs.refresh_dask import dask_times as dask_times
from tethys_compute.jobs.results import max_attempts
from tethys_compute.jobs.status import (
    JobStatus,
    apply_status,
)
from tethys_compute.models.job import CondorWorkflowNode, Job
from tethys_compute.models.scheduler import Scheduler

logger = logging.getLogger(__name__)

__all__ = [
    "RefreshReport",
    "SchedulerReport",
    "condor_query",
    "condor_status",
    "dask_query",
    "dask_status",
    "process_ready_results",
    "refresh_jobs",
]

#: Extra seconds a scheduler's thread gets past its own timeout before it is given up.
GRACE = 5.0


@dataclass
class SchedulerReport:
    """How the refresh of one scheduler went.

    Attributes
    ----------
    name, kind : str
    jobs : int
        Active jobs asked about.
    changed : int
        Jobs whose status changed.
    ok : bool
        False when the scheduler could not be reached (statuses left as they were).
    error : str
        Why, when ``ok`` is False.
    seconds : float
    round_trips : int
        Remote commands (SSH) or scheduler calls (Dask) sent, as counted by
        :data:`tethys_compute.counters.remote_calls` where they were sent
        (0 when the scheduler did not answer in time).
    """

    name: str
    kind: str
    jobs: int
    changed: int = 0
    ok: bool = True
    error: str = ""
    seconds: float = 0.0
    round_trips: int = 0


@dataclass
class RefreshReport:
    """The outcome of :func:`refresh_jobs`: one :class:`SchedulerReport` per scheduler."""

    schedulers: list[SchedulerReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.schedulers)

    @property
    def failed(self) -> list[SchedulerReport]:
        return [s for s in self.schedulers if not s.ok]

    def summary(self) -> str:
        parts = [
            f"{s.name}: {s.jobs} job(s), {s.changed} changed"
            + ("" if s.ok else f", UNREACHABLE ({s.error})")
            for s in self.schedulers
        ]
        return f"{self.changed} status change(s) in {self.seconds:.2f} s" + (
            "; " + "; ".join(parts) if parts else ""
        )


# --------------------------------------------------------------------------
# The refresh
# --------------------------------------------------------------------------
def _ask(scheduler: Scheduler, jobs: Sequence[Job], timeout: float) -> tuple[Any, int]:
    """The scheduler's answer about ``jobs`` and the remote calls it took (counted as sent)."""
    answer: Any
    with remote_calls.measure_thread() as seen:
        if scheduler.KIND == "condor":
            answer = condor_query(scheduler, jobs, timeout)
        elif scheduler.KIND == "dask":
            answer = dask_query(scheduler, jobs, timeout)
        else:
            raise TethysComputeError(f"Scheduler {scheduler.name!r} of kind {scheduler.KIND!r}.")
    return answer, seen.commands()


def _default_timeout(kind: str) -> float:
    if kind == "dask":
        return float(compute_settings.DASK_CONNECT_TIMEOUT)
    return float(compute_settings.SSH_COMMAND_TIMEOUT)


def _active(jobs: QuerySet[Any] | Iterable[Job] | None) -> QuerySet[Any]:
    """The active jobs with a scheduler (of ``jobs`` if given)."""
    query = Job.objects.active().filter(scheduler__isnull=False)
    if jobs is not None:
        ids = [j.pk for j in jobs] if not isinstance(jobs, QuerySet) else jobs.values("pk")
        query = query.filter(pk__in=ids)
    return query


def _chunk_rounds(query: QuerySet[Any], size: int) -> Iterator[dict[int, list[Job]]]:
    """Rounds of at most ``size`` jobs of each scheduler (as their kinds), by scheduler.

    One query per chunk (ids after the last one read), so a refresh holds at
    most one chunk per scheduler in memory, whatever the number of jobs.
    """
    pending = {
        pk: 0
        for pk in query.order_by().values_list("scheduler_id", flat=True).distinct()
        if pk is not None
    }
    while pending:
        round_: dict[int, list[Job]] = {}
        for scheduler_id, after in list(pending.items()):
            rows: Any = query.filter(scheduler_id=scheduler_id, pk__gt=after).order_by("pk")
            chunk = list(rows.select_subclasses()[:size])
            if chunk:
                round_[scheduler_id] = chunk
            if len(chunk) < size:
                del pending[scheduler_id]
            else:
                pending[scheduler_id] = chunk[-1].pk
        if round_:
            yield round_


def _workflow_nodes(by_scheduler: dict[int, list[Job]]) -> dict[int, list[CondorWorkflowNode]]:
    """The nodes of the workflows among the jobs, by workflow id (one query)."""
    workflow_ids = [
        j.pk for own in by_scheduler.values() for j in own if j.KIND == "condorworkflow"
    ]
    nodes: dict[int, list[CondorWorkflowNode]] = defaultdict(list)
    if workflow_ids:
        for node in CondorWorkflowNode.objects.filter(workflow_id__in=workflow_ids):
            nodes[node.workflow_id].append(node)
    return nodes


def _settle(
    scheduler: Scheduler,
    own: list[Job],
    future: concurrent.futures.Future[tuple[Any, int]],
    bound: float,
    asked_at: float,
    nodes: dict[int, list[CondorWorkflowNode]],
) -> SchedulerReport:
    """Wait (bounded) for one scheduler's answer and write it on its jobs."""
    entry = SchedulerReport(scheduler.name, scheduler.KIND, len(own))
    ids = [j.pk for j in own]
    try:
        remaining = bound + GRACE - (time.monotonic() - asked_at)
        answer, entry.round_trips = future.result(timeout=max(remaining, 0.1))
    except concurrent.futures.TimeoutError:
        entry.ok, entry.error = False, f"no answer within {bound:g} s"
    except (TethysComputeError, OSError) as exc:
        entry.ok, entry.error = False, str(exc)[:500]
    except Exception as exc:  # noqa: BLE001 - a library error must not stop the others
        logger.exception("Refreshing jobs of %s failed", scheduler.name)
        entry.ok, entry.error = False, f"{type(exc).__name__}: {exc}"[:500]
    now = timezone.now()
    if entry.ok:
        missing: dict[int, str] = {}
        if scheduler.KIND == "condor":
            entry.changed, missing = apply_condor(own, answer, nodes, now)
        else:
            entry.changed = apply_dask(own, answer)
        Job.objects.filter(pk__in=[i for i in ids if i not in missing]).update(
            last_refresh_ok_at=now, refresh_error=""
        )
        for job_id, message in missing.items():
            Job.objects.filter(pk=job_id).update(refresh_error=message[:1000])
    else:
        logger.warning("Refresh of %s failed: %s", scheduler.name, entry.error)
        Job.objects.filter(pk__in=ids).update(
            refresh_error=f"Scheduler {scheduler.name!r} unreachable: {entry.error}"[:1000]
        )
    entry.seconds = time.monotonic() - asked_at
    return entry


def refresh_jobs(
    jobs: QuerySet[Any] | Iterable[Job] | None = None,
    *,
    timeout: float | None = None,
    progress: Callable[[SchedulerReport], None] | None = None,
    max_workers: int = 4,
) -> RefreshReport:
    """Refresh the status of active jobs: one round trip per scheduler.

    Parameters
    ----------
    jobs : queryset or iterable of Job, optional
        Limit the refresh to these jobs (the admin's "refresh now"); default:
        every active job with a scheduler.
    timeout : float, optional
        Seconds each scheduler may take; default ``SSH_COMMAND_TIMEOUT``
        (Condor) or ``DASK_CONNECT_TIMEOUT`` (Dask).
    progress : callable, optional
        Called with each :class:`SchedulerReport` as its answers are applied.
    max_workers : int
        Schedulers asked at the same time.

    Returns
    -------
    RefreshReport

    Examples
    --------
    >>> report = refresh_jobs()  # doctest: +SKIP
    >>> report.summary()  # doctest: +SKIP
    '2 status change(s) in 0.31 s; condor-a: 120 job(s), 2 changed; dask: 3 job(s), 0 changed'
    """
    started = time.monotonic()
    report = RefreshReport()
    size = max(1, int(compute_settings.JOB_REFRESH_CHUNK))
    entries: dict[int, SchedulerReport] = {}
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, max_workers), thread_name_prefix="tethys-refresh"
    )
    try:
        for by_scheduler in _chunk_rounds(_active(jobs), size):
            _refresh_round(by_scheduler, pool, timeout, entries, progress)
            # Let this round go before the next one is read.
            del by_scheduler
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    report.schedulers = list(entries.values())
    report.seconds = time.monotonic() - started
    if report.schedulers:
        logger.info("Job refresh: %s", report.summary())
    return report


def _refresh_round(
    by_scheduler: dict[int, list[Job]],
    pool: concurrent.futures.ThreadPoolExecutor,
    timeout: float | None,
    entries: dict[int, SchedulerReport],
    progress: Callable[[SchedulerReport], None] | None,
) -> None:
    """Ask each scheduler about its chunk (in parallel), then write the answers."""
    schedulers = {
        s.pk: s for s in Scheduler.objects.filter(pk__in=by_scheduler).select_subclasses()
    }
    nodes = _workflow_nodes(by_scheduler)
    pending = {}
    for pk, own in by_scheduler.items():
        scheduler = schedulers[pk]
        bound = timeout if timeout is not None else _default_timeout(scheduler.KIND)
        pending[pk] = (pool.submit(_ask, scheduler, own, bound), bound, time.monotonic())
    for pk, (future, bound, asked_at) in pending.items():
        entry = _settle(schedulers[pk], by_scheduler[pk], future, bound, asked_at, nodes)
        total = entries.setdefault(pk, SchedulerReport(entry.name, entry.kind, 0))
        _add_up(total, entry)
        if progress is not None:
            progress(entry)


def _add_up(total: SchedulerReport, entry: SchedulerReport) -> None:
    """One scheduler's report over its chunks: sums, and the last failure."""
    total.jobs += entry.jobs
    total.changed += entry.changed
    total.seconds += entry.seconds
    total.round_trips += entry.round_trips
    if not entry.ok:
        total.ok, total.error = False, entry.error


def process_ready_results(limit: int = 50, jobs: Iterable[int] | None = None) -> int:
    """Run the results callbacks of Results-Ready jobs (at most ``limit``); return how many.

    Jobs whose callback failed before are taken again once their
    ``results_retry_at`` has passed, at most ``RESULTS_MAX_ATTEMPTS`` times in
    all (see :mod:`tethys_compute.jobs.results`).  ``jobs`` (ids) takes those
    jobs whatever their retry time and attempts (an explicit request).
    """
    query = Job.objects.filter(status_code=JobStatus.RESULTS_READY)
    if jobs is not None:
        query = query.filter(pk__in=list(jobs))
    else:
        due = Q(results_retry_at__isnull=True) | Q(results_retry_at__lte=timezone.now())
        query = query.filter(due, results_attempts__lt=max_attempts())
    done = 0
    for job in query.order_by("id").select_subclasses()[:limit]:
        try:
            job.process_results()
        except TethysComputeError as exc:
            logger.warning("Job %s: processing results failed: %s", job.pk, exc)
            _results_not_reached(job, exc)
        done += 1
    return done


def _results_not_reached(job: Job, exc: TethysComputeError) -> None:
    """A Results-Ready job whose results could not be reached: count it, or end it.

    An unreachable scheduler is a failed attempt like any other (bounded,
    with back-off).  A scheduler that was removed will never give the
    results: the job ends in Error, saying so, instead of waiting forever.
    """
    job.refresh_status()
    if job.status_code != JobStatus.RESULTS_READY:
        return
    if job.KIND != "basic" and job.scheduler_id is None:
        gone = f" {job.scheduler_name!r}" if job.scheduler_name else ""
        apply_status(
            job,
            JobStatus.ERROR,
            message=f"Results not processed: the job's scheduler{gone} was removed before "
            "they were fetched, so they cannot be read any more.",
        )
        return
    job._results_failed(exc)
