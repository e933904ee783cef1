"""The batched status refresher: one round trip per scheduler, outside requests.

:func:`refresh_jobs` reads every active job (and workflow node) in a few
queries, groups them by scheduler and asks each scheduler **once**:

* a Condor scheduler: one remote command (``condor_q`` + ``condor_history``
  with ``-json``, framed apart by :func:`~tethys_compute.condor.run_batch`)
  whose constraint names every cluster of its jobs and every DAG
  (``DAGManJobId``) of its workflows;
* a Dask scheduler: one ``run_on_scheduler`` call returning the state of
  every tracked task key.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from tethys_compute.conf import compute_settings
from tethys_compute.counters import remote_calls
from tethys_compute.dask_client import scheduler_call
from tethys_compute.dask_code import explain
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.jobs.nodes import settle_unrun_nodes
from tethys_compute.jobs.results import max_attempts
from tethys_compute.jobs.status import (
    FINAL_STATUSES,
    FINISHED_STATUSES,
    JobStatus,
    apply_status,
)

if TYPE_CHECKING:
    from tethys_compute.condor import JobInfo
    from tethys_compute.models.job import CondorWorkflow, CondorWorkflowNode, Job
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

#: Most terms in one ``-constraint`` (several such commands still go in one round trip).
MAX_TERMS_PER_QUERY = 400
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
# HTCondor
# --------------------------------------------------------------------------
def _finished_well(job: Job) -> str:
    return JobStatus.RESULTS_READY if job.needs_results_processing() else JobStatus.COMPLETE


def _proc_status(info: JobInfo) -> tuple[str, str]:
    from tethys_compute.condor import JobStatus as CondorStatus

    status = info.status
    if status == CondorStatus.IDLE:
        return JobStatus.SUBMITTED, ""
    if status in (CondorStatus.RUNNING, CondorStatus.TRANSFERRING_OUTPUT):
        return JobStatus.RUNNING, ""
    if status in (CondorStatus.HELD, CondorStatus.SUSPENDED):
        return JobStatus.PAUSED, f"Held: {info.hold_reason}" if info.hold_reason else "Held."
    if status == CondorStatus.REMOVED:
        return JobStatus.ABORTED, info.remove_reason or "Removed."
    if status == CondorStatus.COMPLETED:
        if info.succeeded:
            return JobStatus.COMPLETE, ""
        if info.exit_by_signal:
            return JobStatus.ERROR, f"Killed by signal {info.exit_signal}."
        return JobStatus.ERROR, f"Exit code {info.exit_code}."
    return "", f"unknown HTCondor status {info.status_label}"


def condor_status(infos: Sequence[JobInfo], finished_well: str) -> tuple[str, str]:
    """One status for a cluster's procs (empty when there is nothing to say).

    Examples
    --------
    Every proc running gives Running; some done and some running, Various;
    all done with one failure, Error.
    """
    if not infos:
        return "", ""
    pairs = [_proc_status(i) for i in infos]
    statuses = {s for s, _ in pairs if s}
    if not statuses:
        return "", pairs[0][1]
    if len(statuses) == 1:
        status = statuses.pop()
        message = next((m for s, m in pairs if m), "")
        return (finished_well if status == JobStatus.COMPLETE else status), message
    done = {JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.ABORTED}
    if statuses <= done:
        bad = [f"{i.id}: {m}" for i, (s, m) in zip(infos, pairs, strict=True) if s != "COM"]
        return JobStatus.ERROR, f"{len(bad)} of {len(infos)} procs failed ({'; '.join(bad[:5])})"
    return JobStatus.VARIOUS, ""


def _workflow_status(
    workflow: CondorWorkflow,
    dagman: JobInfo | None,
    nodes: Sequence[CondorWorkflowNode],
    node_infos: dict[str, JobInfo],
) -> tuple[str, str]:
    from tethys_compute.condor import JobStatus as CondorStatus

    if dagman is None:
        return "", ""
    if dagman.status == CondorStatus.COMPLETED:
        if dagman.succeeded:
            return _finished_well(workflow), ""
        failed = [n for n, i in node_infos.items() if _proc_status(i)[0] == JobStatus.ERROR]
        detail = f"; failed nodes: {', '.join(failed)}" if failed else "."
        return JobStatus.ERROR, "DAG failed" + detail
    if dagman.status != CondorStatus.RUNNING:
        return _proc_status(dagman)
    states = [_proc_status(node_infos[n.name])[0] if n.name in node_infos else "" for n in nodes]
    running = states.count(JobStatus.RUNNING)
    finished = sum(1 for s in states if s in (JobStatus.COMPLETE, JobStatus.ERROR))
    if running and running == len(states):
        return JobStatus.RUNNING, ""
    if finished == len(states) and states:
        return JobStatus.VARIOUS_COMPLETE, ""
    if running or finished:
        return JobStatus.VARIOUS, ""
    return JobStatus.SUBMITTED, ""


def _expected_procs(jobs: Sequence[Job]) -> dict[str, int]:
    """Procs per ``ClusterId == C`` term for plain Condor jobs (a DAG's count is unknown)."""
    procs: dict[str, int] = {}
    for job in jobs:
        cluster = getattr(job, "cluster_id", None)
        if cluster and job.KIND == "condor":
            term = f"ClusterId == {cluster}"
            procs[term] = procs.get(term, 0) + max(1, int(getattr(job, "num_jobs", 1) or 1))
    return procs


def condor_query(scheduler: Any, jobs: Sequence[Job], timeout: float) -> list[JobInfo]:
    """What HTCondor says of ``jobs`` and of their DAGs' nodes, in ONE remote command.

    The constraint names every cluster (``ClusterId == C``) and every DAG
    (``DAGManJobId == C``); above :data:`MAX_TERMS_PER_QUERY` terms it is cut
    into several ``condor_q``/``condor_history`` pairs, still in one batch.
    ``condor_history`` reads at most ``CONDOR_HISTORY_SCAN_LIMIT`` records
    (``-scanlimit``), and stops at ``-limit`` once every proc of plain jobs
    was found.

    Parameters
    ----------
    scheduler : CondorScheduler
    jobs : sequence of CondorJob or CondorWorkflow
    timeout : float
        Seconds for the round trip.

    Returns
    -------
    list of JobInfo
        Every job found, queue or history (history wins for a job in both).
    """
    from tethys_compute.condor import run_batch
    from tethys_compute.condor.client import status_commands
    from tethys_compute.condor.parse import STATUS_ATTRIBUTES, iter_json_ads, job_info_from_ad
    from tethys_compute.exceptions import CondorError

    clusters = sorted({getattr(j, "cluster_id", None) or 0 for j in jobs} - {0})
    dags = sorted(
        {getattr(j, "cluster_id", None) or 0 for j in jobs if j.KIND == "condorworkflow"} - {0}
    )
    terms = [f"ClusterId == {c}" for c in clusters] + [f"DAGManJobId == {c}" for c in dags]
    if not terms:
        return []
    scan_limit = int(compute_settings.CONDOR_HISTORY_SCAN_LIMIT)
    procs = _expected_procs(jobs)
    commands: list[list[str]] = []
    for start in range(0, len(terms), MAX_TERMS_PER_QUERY):
        chunk = terms[start : start + MAX_TERMS_PER_QUERY]
        # -limit: the history can stop once every proc was found (known without DAGs).
        limit = sum(procs[t] for t in chunk) if all(t in procs for t in chunk) else None
        constraint = " || ".join(chunk)
        commands.extend(
            status_commands(constraint, STATUS_ATTRIBUTES, scan_limit=scan_limit, limit=limit)
        )
    host = scheduler.get_remote_host()
    results = run_batch(host, commands, timeout=timeout)
    found: dict[str, JobInfo] = {}
    for index, result in enumerate(results):
        if not result.ok:
            raise CondorError(
                f"{result.argv[0]} on {host.label} failed (exit status {result.exit_status}): "
                f"{result.stderr.strip()[:300]}"
            )
        for ad in iter_json_ads(result.stdout):
            info = job_info_from_ad(ad, in_queue=index % 2 == 0)
            if info is not None:
                found[info.id] = info  # history comes after the queue: the later answer wins
    return sorted(found.values(), key=lambda i: (i.cluster_id, i.proc_id))


# --------------------------------------------------------------------------
# Dask
# --------------------------------------------------------------------------
def _make_state_probe() -> Callable[..., dict[str, tuple[Any, ...]]]:
    # Nested on purpose: cloudpickle sends it by value, so the scheduler need
    # not be able to import tethys_compute.
    def probe(keys: list[str], dask_scheduler: Any = None) -> dict[str, tuple[Any, ...]]:
        answer: dict[str, tuple[Any, ...]] = {}
        wanted = set()
        for key in keys:
            task = dask_scheduler.tasks.get(key)
            if task is None:
                answer[key] = (None, "", None, None)
            else:
                text = getattr(task, "exception_text", "") or ""
                answer[key] = (task.state, str(text)[:1000], None, None)
                wanted.add(key)
        # The real start and end: the scheduler's transition log (one scan for all keys),
        # the last move to "processing" and the last move to "memory" or "erred".
        if wanted:
            try:
                story = dask_scheduler.story(*wanted)
            except Exception:  # noqa: BLE001 - the times are optional
                story = []
            times: dict[str, list[Any]] = {}
            for entry in story:
                key, finish, stamp = entry[0], entry[2], entry[-1]
                if key not in wanted or not isinstance(stamp, (int, float)):
                    continue
                slot = times.setdefault(key, [None, None])
                if finish == "processing":
                    slot[0], slot[1] = stamp, None
                elif finish in ("memory", "erred"):
                    slot[1] = stamp
            for key, (started, stopped) in times.items():
                state, text = answer[key][:2]
                answer[key] = (state, text, started, stopped)
        return answer

    return probe


def dask_times(started: Any, stopped: Any) -> dict[str, datetime]:
    """``start_time``/``completion_time`` from the scheduler's epoch seconds (those known).

    Examples
    --------
    >>> sorted(dask_times(0.0, None))
    ['start_time']
    """
    fields: dict[str, datetime] = {}
    for name, value in (("start_time", started), ("completion_time", stopped)):
        if isinstance(value, (int, float)):
            fields[name] = datetime.fromtimestamp(float(value), tz=UTC)
    return fields


def dask_status(state: str | None, text: str, finished_well: str) -> tuple[str, str]:
    """A job status for a Dask task state (as the scheduler reports it).

    Examples
    --------
    >>> dask_status("processing", "", "COM")
    (JobStatus.RUNNING, '')
    >>> dask_status("memory", "", "RES")
    ('RES', '')
    """
    if state is None or state == "forgotten":
        return JobStatus.ERROR, (
            "The Dask scheduler no longer knows this task (was it restarted?); resubmit the job."
        )
    if state == "memory":
        return finished_well, ""
    if state == "erred":
        return JobStatus.ERROR, text or "The task failed."
    if state == "processing":
        return JobStatus.RUNNING, ""
    return JobStatus.SUBMITTED, ""


def dask_query(scheduler: Any, jobs: Sequence[Job], timeout: float) -> dict[str, Any]:
    """``(state, exception text)`` of every task key of ``jobs``: ONE ``run_on_scheduler``."""
    keys = sorted({str(getattr(j, "key", "")) for j in jobs} - {""})
    if not keys:
        return {}
    client = scheduler.get_client(timeout=timeout)
    answer = scheduler_call(
        client, "run_on_scheduler", _make_state_probe(), keys, callback_timeout=timeout
    )
    return dict(answer)


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


def _update_node(
    node: CondorWorkflowNode, status: str, message: str, seen: JobInfo, now: datetime
) -> None:
    """Write a node's polled status, unless a push already finished this try of it."""
    from django.db.models import Q

    from tethys_compute.models.job import CondorWorkflowNode

    rows = CondorWorkflowNode.objects.filter(pk=node.pk)
    if status not in FINAL_STATUSES:
        # A final status stays, unless HTCondor runs a new try (RETRY) in another cluster.
        rows = rows.filter(
            ~Q(status_code__in=FINAL_STATUSES)
            | (Q(cluster_id__isnull=False) & ~Q(cluster_id=seen.cluster_id))
        )
    rows.update(
        status_code=status,
        cluster_id=seen.cluster_id,
        exit_code=seen.exit_code,
        status_message=message,
        updated_at=now,
    )


def _apply_condor(
    jobs: Sequence[Job],
    infos: Sequence[JobInfo],
    nodes: dict[int, list[CondorWorkflowNode]],
    now: datetime,
) -> tuple[int, dict[int, str]]:

    by_cluster: dict[int, list[JobInfo]] = defaultdict(list)
    by_dag: dict[int, dict[str, JobInfo]] = defaultdict(dict)
    for info in infos:
        by_cluster[info.cluster_id].append(info)
        if info.dagman_job_id is not None:
            by_dag[info.dagman_job_id][info.dag_node_name or info.id] = info
    changed = 0
    missing: dict[int, str] = {}
    for job in jobs:
        cluster = getattr(job, "cluster_id", None)
        if cluster is None:
            continue
        if job.KIND == "condorworkflow":
            node_infos = by_dag.get(cluster, {})
            own = nodes.get(job.pk, [])
            for node in own:
                seen = node_infos.get(node.name)
                if seen is None:
                    continue
                status, message = _proc_status(seen)
                if status and (node.status_code, node.cluster_id) != (status, seen.cluster_id):
                    _update_node(node, status, message, seen, now)
            dagman = next(iter(by_cluster.get(cluster, [])), None)
            status, message = _workflow_status(job, dagman, own, node_infos)  # type: ignore[arg-type]
        else:
            status, message = condor_status(by_cluster.get(cluster, []), _finished_well(job))
        if not status:
            missing[job.pk] = message or f"HTCondor knows no job of cluster {cluster}."
            continue
        change = apply_status(job, status, message=message, expected_version=job.status_version)
        changed += int(change.applied)
        if job.KIND == "condorworkflow" and job.status_code in FINISHED_STATUSES:
            settle_unrun_nodes(job.pk, now)
    return changed, missing


def _apply_dask(jobs: Sequence[Job], states: dict[str, Any]) -> int:
    changed = 0
    for job in jobs:
        key = getattr(job, "key", "")
        if not key or key not in states:
            continue
        state, text, started, stopped = (*states[key], None, None)[:4]
        status, message = dask_status(state, text, _finished_well(job))
        if status == JobStatus.ERROR:
            message = explain(message, str(getattr(job, "function", "")))
        times: dict[str, Any] = dict(dask_times(started, stopped))
        if status not in FINISHED_STATUSES:
            times.pop("completion_time", None)
        else:
            if "completion_time" not in times:
                times["completion_time"] = timezone.now()
                note = "started and completed are the refresh time: the scheduler forgot them"
                message = f"{message} ({note})" if message else f"Finished ({note})."
            # A start never seen (the task ran between two refreshes): the log's, else the end.
            times["start_time"] = Coalesce(
                F("start_time"), models.Value(times.get("start_time") or times["completion_time"])
            )
        change = apply_status(
            job, status, message=message, expected_version=job.status_version, fields=times
        )
        changed += int(change.applied)
    return changed


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
    from tethys_compute.models.job import CondorWorkflowNode, Job
    from tethys_compute.models.scheduler import Scheduler

    started = time.monotonic()
    query = Job.objects.active().filter(scheduler__isnull=False)
    if jobs is not None:
        ids = [j.pk for j in jobs] if not isinstance(jobs, QuerySet) else jobs.values("pk")
        query = query.filter(pk__in=ids)
    active = list(query.select_subclasses())
    report = RefreshReport()
    if not active:
        report.seconds = time.monotonic() - started
        return report
    by_scheduler: dict[int, list[Job]] = defaultdict(list)
    for job in active:
        by_scheduler[job.scheduler_id].append(job)  # type: ignore[index]
    schedulers = {
        s.pk: s for s in Scheduler.objects.filter(pk__in=by_scheduler).select_subclasses()
    }
    workflow_ids = [j.pk for j in active if j.KIND == "condorworkflow"]
    nodes: dict[int, list[CondorWorkflowNode]] = defaultdict(list)
    if workflow_ids:
        for node in CondorWorkflowNode.objects.filter(workflow_id__in=workflow_ids):
            nodes[node.workflow_id].append(node)

    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(by_scheduler))),
        thread_name_prefix="tethys-refresh",
    )
    try:
        pending = {}
        for pk, own in by_scheduler.items():
            scheduler = schedulers[pk]
            bound = timeout if timeout is not None else _default_timeout(scheduler.KIND)
            pending[pk] = (pool.submit(_ask, scheduler, own, bound), bound, time.monotonic())
        for pk, (future, bound, asked_at) in pending.items():
            scheduler = schedulers[pk]
            own = by_scheduler[pk]
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
                    entry.changed, missing = _apply_condor(own, answer, nodes, now)
                else:
                    entry.changed = _apply_dask(own, answer)
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
            report.schedulers.append(entry)
            if progress is not None:
                progress(entry)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    report.seconds = time.monotonic() - started
    logger.info("Job refresh: %s", report.summary())
    return report


def process_ready_results(limit: int = 50, jobs: Iterable[int] | None = None) -> int:
    """Run the results callbacks of Results-Ready jobs (at most ``limit``); return how many.

    Jobs whose callback failed before are taken again once their
    ``results_retry_at`` has passed, at most ``RESULTS_MAX_ATTEMPTS`` times in
    all (see :mod:`tethys_compute.jobs.results`).  ``jobs`` (ids) takes those
    jobs whatever their retry time and attempts (an explicit request).
    """
    from tethys_compute.models.job import Job

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
