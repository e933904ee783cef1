"""The Condor half of the refresher: one query per scheduler, and what its answer means.

:func:`condor_query` asks ``condor_q`` and ``condor_history`` (``-json``) in one
round trip for every cluster of the given jobs and every DAG of the given
workflows; :func:`condor_status` and the workflow rules turn the ads into a
job status; ``apply_condor`` writes them (nodes first) with versioned updates.
The refresh loop itself is :mod:`tethys_compute.jobs.refresh`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from tethys_compute.condor import JobStatus as CondorStatus
from tethys_compute.condor import run_batch
from tethys_compute.condor.parse import STATUS_ATTRIBUTES, iter_json_ads, job_info_from_ad
from tethys_compute.condor.status_scan import queue_then_history, split_queue_then_history
from tethys_compute.conf import compute_settings
from tethys_compute.jobs.nodes import settle_unrun_nodes
from tethys_compute.jobs.results import finished_well
from tethys_compute.jobs.status import (
    FINAL_STATUSES,
    FINISHED_STATUSES,
    JobStatus,
    apply_status,
)
from tethys_compute.models.job import CondorWorkflow, CondorWorkflowNode, Job

if TYPE_CHECKING:
    from tethys_compute.condor import JobInfo


# The logger of the module these came from, so logging configurations keep working.
logger = logging.getLogger("tethys_compute.jobs.refresh")

#: Most terms in one ``-constraint`` (several such commands still go in one round trip).
#: Each ``condor_q`` makes the schedd go through its whole queue, so fewer, longer
#: constraints cost less; the command's size is the same either way (about 22 bytes a
#: term, 22 KB for 1,000 jobs).
MAX_TERMS_PER_QUERY = 1000


def _proc_status(info: JobInfo) -> tuple[str, str]:
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
    if dagman is None:
        return "", ""
    if dagman.status == CondorStatus.COMPLETED:
        if dagman.succeeded:
            return finished_well(workflow), ""
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
    (``-scanlimit``); for plain jobs it looks only for the procs ``condor_q``
    did not list, stopping once it found them (``-limit``), and does not run
    when the queue listed them all
    (:func:`~tethys_compute.condor.status_scan.queue_then_history`).

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
    tokens: list[str] = []
    for start in range(0, len(terms), MAX_TERMS_PER_QUERY):
        chunk = terms[start : start + MAX_TERMS_PER_QUERY]
        # The procs asked about are known without DAGs: the history looks for the missing.
        expected = sum(procs[t] for t in chunk) if all(t in procs for t in chunk) else None
        argv, token = queue_then_history(
            " || ".join(chunk), STATUS_ATTRIBUTES, scan_limit=scan_limit, expected=expected
        )
        commands.append(argv)
        tokens.append(token)
    host = scheduler.get_remote_host()
    results = run_batch(host, commands, timeout=timeout)
    found: dict[str, JobInfo] = {}
    for result, token in zip(results, tokens, strict=True):
        queue, history = split_queue_then_history(result, token, host.label)
        for text, in_queue in ((queue, True), (history, False)):
            for ad in iter_json_ads(text):
                info = job_info_from_ad(ad, in_queue=in_queue)
                if info is not None:
                    found[info.id] = info  # history comes after the queue: the later answer wins
    return sorted(found.values(), key=lambda i: (i.cluster_id, i.proc_id))


def _update_node(
    node: CondorWorkflowNode, status: str, message: str, seen: JobInfo, now: datetime
) -> None:
    """Write a node's polled status, unless a push already finished this try of it."""
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


def apply_condor(
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
            status, message = condor_status(by_cluster.get(cluster, []), finished_well(job))
        if not status:
            missing[job.pk] = message or f"HTCondor knows no job of cluster {cluster}."
            continue
        if (status, message[:2000]) != (job.status_code, job.status_message):
            # (An unchanged job has nothing to write: no query for it.)
            change = apply_status(job, status, message=message, expected_version=job.status_version)
            changed += int(change.applied)
        if job.KIND == "condorworkflow" and job.status_code in FINISHED_STATUSES:
            settle_unrun_nodes(job.pk, now)
    return changed, missing
