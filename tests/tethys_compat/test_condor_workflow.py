"""Tethys Platform's ``CondorWorkflow`` and ``CondorWorkflowJobNode``, run on the stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.exceptions import InvalidArgumentError
from tethys_compute.job_manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, CondorWorkflow
from tethys_sdk.jobs import CondorWorkflowJobNode

pytestmark = pytest.mark.django_db


def workflow_of(manager: JobManager, user: Any, **kwargs: Any) -> CondorWorkflow:
    workflow = manager.create_job(
        name="MyWorkflowABC", user=user, job_type="CONDORWORKFLOW", **kwargs
    )
    assert isinstance(workflow, CondorWorkflow)
    return workflow


def node(workflow: CondorWorkflow, name: str, **kwargs: Any) -> CondorWorkflowJobNode:
    made = CondorWorkflowJobNode(
        name=name, workflow=workflow, attributes={"executable": "/bin/true"}, **kwargs
    )
    made.save()
    return made


def test_get_job_returns_the_node_of_that_name_or_none(job_manager: JobManager, user: Any) -> None:
    workflow = workflow_of(job_manager, user)
    job_a = node(workflow, "JobA")
    assert workflow.get_job("JobA") == job_a
    assert workflow.get_job("JobZ") is None


def test_job_node_is_a_job_type_node_with_its_submit_attributes(
    job_manager: JobManager, user: Any
) -> None:
    workflow = workflow_of(job_manager, user)
    job_a = node(workflow, "JobA")
    assert job_a.type == "JOB" and job_a.workspace == "."
    assert CondorWorkflowJobNode.TYPE_DICT == {
        "JOB": "JOB",
        "DATA": "DAT",
        "SUBDAG": "SUB",
        "SPLICE": "SPL",
        "FINAL": "FIN",
    }
    assert job_a.get_attribute("executable") == "/bin/true"
    job_a.set_attribute("arguments", "x")
    job_a.save()
    assert workflow.get_job("JobA").attributes == {"executable": "/bin/true", "arguments": "x"}


def test_add_max_jobs_throttle_writes_maxjobs_and_node_category(
    job_manager: JobManager, user: Any
) -> None:
    workflow = workflow_of(job_manager, user)
    node(workflow, "JobA", category="heavy")
    workflow.add_max_jobs_throttle("heavy", 2)
    workflow.save()
    dag, _files = CondorWorkflow.objects.get(pk=workflow.pk).render_dag()
    assert "CATEGORY JobA heavy" in dag.splitlines()
    assert "MAXJOBS heavy 2" in dag.splitlines()


def test_node_fields_become_dagman_options(job_manager: JobManager, user: Any) -> None:
    workflow = workflow_of(job_manager, user)
    node(
        workflow,
        "JobA",
        pre_script="pre.sh",
        pre_script_args="a b",
        post_script="post.sh",
        variables={"size": "10"},
        priority=5,
        retry=2,
        retry_unless_exit_value=3,
        noop=True,
    )
    node(workflow, "JobB", done=True, dir="sub")
    dag = workflow.render_dag()[0].splitlines()
    assert "JOB JobA JobA.sub NOOP" in dag
    assert "JOB JobB JobB.sub DIR sub DONE" in dag
    assert "SCRIPT PRE JobA pre.sh a b" in dag
    assert "SCRIPT POST JobA post.sh" in dag
    assert 'VARS JobA size="10"' in dag
    assert "PRIORITY JobA 5" in dag
    assert "RETRY JobA 2 UNLESS-EXIT 3" in dag


def test_a_category_with_a_space_is_refused_with_the_field_named(
    job_manager: JobManager, user: Any
) -> None:
    workflow = workflow_of(job_manager, user)
    with pytest.raises(InvalidArgumentError, match="category"):
        workflow.add_max_jobs_throttle("two words", 1)


def test_workflow_statuses_count_the_nodes(job_manager: JobManager, user: Any) -> None:
    workflow = workflow_of(job_manager, user)
    node(workflow, "JobA")
    node(workflow, "JobB")
    assert workflow.statuses["Unexpanded"] == 2


def write(path: Path, text: str, mode: int = 0o644) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def run_abc_workflow(job_manager: JobManager, user: Any, scheduler: Any, tmp_path: Path) -> Any:
    """The "Creating a Condor Workflow" example: three template nodes, A -> B -> C."""
    app_workspace = tmp_path / "app"
    files = (
        write(
            app_workspace / "my_script.py",
            "#!/bin/sh\ncat input_1 input_2 > example_output1\necho two > example_output2\n",
            0o755,
        ),
        write(app_workspace / "input_1", "one\n"),
        write(app_workspace / "input_2", "uno\n"),
    )
    workflow = job_manager.create_job(
        name="MyWorkflowABC",
        user=user,
        job_type="CONDORWORKFLOW",
        scheduler=scheduler,
    )
    workflow.save()
    made = []
    for name in ("JobA", "JobB", "JobC"):
        job = CondorWorkflowJobNode(
            name=name,
            workflow=workflow,
            condorpy_template_name="vanilla_transfer_files",
            remote_input_files=files,
            attributes=dict(
                executable="my_script.py",
                transfer_input_files=("../input_1", "../input_2"),
                transfer_output_files=("example_output1", "example_output2"),
            ),
        )
        job.save()
        made.append(job)
    job_a, job_b, job_c = made
    job_b.add_parent(job_a)
    job_c.add_parent(job_b)
    workflow.save()
    workflow.execute()
    wait_for(lambda: refresh_jobs() and status_of(workflow) == JobStatus.COMPLETE, step=0.2)
    assert isinstance(workflow, CondorWorkflow)
    assert workflow.statuses["Completed"] == 3
    workflow.refresh_from_db()
    out = scheduler.get_remote_host().run(
        ["cat", f"{workflow.remote_dir}/JobC/example_output1"], timeout=30
    )
    assert out.stdout == "one\nuno\n"
    return workflow


def test_condor_workflow_of_the_tethys_docs_runs_on_the_stand_in(
    job_manager: JobManager, user: Any, condor_scheduler: CondorScheduler, tmp_path: Path
) -> None:
    run_abc_workflow(job_manager, user, condor_scheduler, tmp_path)


@pytest.mark.urls("tests.jobs.urls")
@pytest.mark.django_db(transaction=True)
def test_condor_workflow_of_the_tethys_docs_reports_through_callbacks(
    app: Any, user: Any, condor_scheduler: CondorScheduler, live_server: Any, tmp_path: Path
) -> None:
    manager = JobManager(app, callback_base_url=live_server.url)
    workflow = run_abc_workflow(manager, user, condor_scheduler, tmp_path)
    # Each node's wrapper, run in the node's initialdir, reported to the portal.
    assert {"JobA", "JobB", "JobC"} <= set(workflow.callback_seqs["seq"])
