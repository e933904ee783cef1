"""Statuses of workflow nodes that HTCondor never reports.

A node is Pending from :meth:`~tethys_compute.models.CondorWorkflow.execute`
until DAGMan submits it (the refresher then sees its node job: Submitted,
Running, ...).  A node that is still Pending (or Submitted without ever being
seen) when its workflow has finished never ran: :func:`settle_unrun_nodes`
marks it Aborted and says why, e.g. ``not run: parent B failed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from tethys_compute.jobs.status import FINAL_STATUSES, JobStatus
from tethys_compute.models.job import CondorWorkflowNode

__all__ = ["not_run_message", "settle_unrun_nodes"]


def not_run_message(failed: Iterable[str], unrun: Iterable[str]) -> str:
    """Why a node did not run, from its failed and its not-run parents.

    Examples
    --------
    >>> not_run_message(["B"], [])
    'not run: parent B failed'
    >>> not_run_message([], ["C", "D"])
    'not run: parents C, D did not run'
    >>> not_run_message([], [])
    'not run: the workflow ended first'
    """
    failed, unrun = sorted(failed), sorted(unrun)
    if failed:
        noun = "parent" if len(failed) == 1 else "parents"
        return f"not run: {noun} {', '.join(failed)} failed"
    if unrun:
        noun = "parent" if len(unrun) == 1 else "parents"
        return f"not run: {noun} {', '.join(unrun)} did not run"
    return "not run: the workflow ended first"


def settle_unrun_nodes(workflow_id: int, now: datetime) -> int:
    """Mark Aborted every node of a finished workflow that never ran; return how many.

    A node never ran when HTCondor never gave it a cluster (``cluster_id`` is
    empty) and no push or poll gave it a final status.
    """
    nodes: list[CondorWorkflowNode] = list(
        CondorWorkflowNode.objects.filter(workflow_id=workflow_id).prefetch_related("parent_nodes")
    )
    unrun = {
        n.name
        for n in nodes
        if n.cluster_id is None
        and n.status_code not in FINAL_STATUSES
        and n.status_code != JobStatus.RUNNING
    }
    failed = {n.name for n in nodes if n.status_code in (JobStatus.ERROR, JobStatus.ABORTED)}
    failed -= unrun
    done = 0
    for node in nodes:
        if node.name not in unrun:
            continue
        parents = [p.name for p in node.parent_nodes.all()]
        message = not_run_message(
            [p for p in parents if p in failed], [p for p in parents if p in unrun]
        )
        done += CondorWorkflowNode.objects.filter(
            pk=node.pk, cluster_id__isnull=True, status_code=node.status_code
        ).update(status_code=JobStatus.ABORTED, status_message=message, updated_at=now)
    return done
