"""Statuses of workflow nodes HTCondor never reports (issue 15): real sshd + the stand-in.

Nodes are Pending until DAGMan submits them; when a DAG fails, the nodes that never ran
end Aborted with the reason instead of staying Submitted.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.nodes import not_run_message
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, CondorWorkflow

pytestmark = [pytest.mark.sshd]


def test_nodes_of_a_failed_dag_that_never_ran_end_aborted(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    workflow = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=condor_scheduler)
    assert isinstance(workflow, CondorWorkflow)
    fails = workflow.add_node("B", {"executable": "/bin/sh", "arguments": ["-c", "exit 3"]})
    child = workflow.add_node("C", {"executable": "/bin/true"}, parents=[fails])
    workflow.add_node("D", {"executable": "/bin/true"}, parents=[child])
    workflow.add_node("E", {"executable": "/bin/true"})
    workflow.execute()
    assert {n.status_code for n in workflow.node_set.all()} == {JobStatus.PENDING}
    waiting = {n.name: n.status_message for n in workflow.node_set.all()}
    assert waiting == {"B": "", "C": "waiting for parents", "D": "waiting for parents", "E": ""}

    def finished() -> bool:
        refresh_jobs()
        return status_of(workflow) in (JobStatus.COMPLETE, JobStatus.ERROR)

    wait_for(finished, step=0.3, what="workflow finished")
    workflow.refresh_from_db()
    assert workflow.status_code == JobStatus.ERROR, workflow.status_message
    nodes = {n.name: n for n in workflow.node_set.all()}
    assert {name: n.status_code for name, n in nodes.items()} == {
        "B": JobStatus.ERROR,
        "C": JobStatus.ABORTED,
        "D": JobStatus.ABORTED,
        "E": JobStatus.COMPLETE,
    }
    assert nodes["C"].status_message == "not run: parent B failed"
    assert nodes["D"].status_message == "not run: parent C did not run"
    assert nodes["C"].cluster_id is None and nodes["B"].cluster_id is not None


def test_not_run_message_names_the_parents() -> None:
    assert not_run_message(["B", "A"], ["X"]) == "not run: parents A, B failed"
    assert not_run_message([], ["X"]) == "not run: parent X did not run"
