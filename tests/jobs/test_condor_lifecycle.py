"""Resubmit, clean and outputs of Condor jobs: real sshd + the HTCondor stand-in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import status_of, wait_for
from tethys_compute import condor
from tethys_compute.condor.parse import JobStatus as CondorStatus
from tethys_compute.exceptions import InvalidArgumentError, InvalidStatusTransition
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorJob, CondorScheduler, CondorWorkflow, DaskScheduler, Job

pytestmark = [pytest.mark.sshd]


def sleeper(manager: JobManager, user: Any, scheduler: CondorScheduler, **extra: Any) -> CondorJob:
    """A job that sleeps 30 s; ``extra`` adds submit commands (``log``, ``hold``...)."""
    job = manager.create_job(
        "sleeper",
        user,
        "CONDOR",
        scheduler=scheduler,
        submit_description={"executable": "/bin/sleep", "arguments": ["30"], **extra},
    )
    assert isinstance(job, CondorJob)
    return job


def wait_running(job: Job) -> None:
    wait_for(
        lambda: refresh_jobs() and status_of(job) == JobStatus.RUNNING,
        step=0.2,
        what="refresh sees the job running",
    )


def condor_state(scheduler: CondorScheduler, cluster: int) -> CondorStatus | None:
    infos = condor.job_statuses(scheduler.get_remote_host(), [str(cluster)], timeout=10)
    return next(iter(infos.values())).status if infos else None


def test_resubmit_of_a_running_job_removes_the_old_cluster_first(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = sleeper(manager, user, condor_scheduler)
    job.execute()
    wait_running(job)
    old_cluster, old_dir = job.cluster_id, job.remote_dir
    assert old_cluster is not None
    job.resubmit()
    assert job.status == "Submitted" and job.cluster_id not in (None, old_cluster)
    assert job.remote_dir != old_dir and os.path.isdir(job.remote_dir)
    # The first run was condor_rm'ed (not left running without its directory).
    wait_for(
        lambda: condor_state(condor_scheduler, old_cluster) == CondorStatus.REMOVED,
        what="old cluster removed",
    )
    assert not os.path.exists(old_dir)
    assert CondorJob.objects.get(pk=job.pk).cluster_id == job.cluster_id
    job.stop()


def test_resubmit_of_a_running_workflow_removes_the_old_dagman_job(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    workflow = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=condor_scheduler)
    assert isinstance(workflow, CondorWorkflow)
    workflow.add_node("nap", {"executable": "/bin/sleep", "arguments": ["30"]})
    workflow.execute()
    wait_running(workflow)
    old_cluster = workflow.cluster_id
    assert old_cluster is not None
    workflow.resubmit()
    assert workflow.cluster_id not in (None, old_cluster)
    wait_for(
        lambda: condor_state(condor_scheduler, old_cluster) == CondorStatus.REMOVED,
        what="old DAGMan job removed",
    )
    assert {n.status_code for n in workflow.node_set.all()} == {JobStatus.PENDING}
    workflow.stop()


@pytest.mark.urls("tests.jobs.urls")
def test_admin_resubmit_of_a_running_job_removes_the_old_cluster(
    admin_client: Any, manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = sleeper(manager, user, condor_scheduler)
    job.execute()
    wait_running(job)
    old_cluster = job.cluster_id
    assert old_cluster is not None
    response = admin_client.post(
        "/admin/tethys_compute/job/",
        {"action": "resubmit_jobs", "_selected_action": [job.pk], "post": "yes"},
    )
    assert response.status_code == 302
    wait_for(
        lambda: condor_state(condor_scheduler, old_cluster) == CondorStatus.REMOVED,
        what="old cluster removed",
    )
    assert CondorJob.objects.get(pk=job.pk).cluster_id not in (None, old_cluster)
    CondorJob.objects.get(pk=job.pk).stop()


def test_clean_of_an_active_job_is_refused_and_keeps_its_files(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = sleeper(manager, user, condor_scheduler)
    job.execute()
    stale = CondorJob.objects.get(pk=job.pk)  # loaded now: a push or poll moves the row on
    wait_running(job)
    with pytest.raises(InvalidStatusTransition, match=r"stop\(\) it first"):
        stale.clean()
    assert os.path.isdir(job.remote_dir)
    assert condor_state(condor_scheduler, job.cluster_id) == CondorStatus.RUNNING  # type: ignore[arg-type]
    job.stop()
    job.clean()  # stopped: allowed now
    assert not os.path.exists(job.remote_dir or "/nonexistent") and job.remote_dir == ""


def test_outputs_of_two_jobs_with_the_same_name_land_in_each_jobs_folder(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    jobs = [
        manager.create_job(
            f"writer-{word}",
            user,
            "CONDOR",
            scheduler=condor_scheduler,
            submit_description={
                "executable": "/bin/sh",
                "arguments": ["-c", f"echo {word} > result.txt"],
            },
            output_files=["result.txt"],
            process_results_function="tests.jobs.results.mark_processed",
        )
        for word in ("first", "second")
    ]
    for job in jobs:
        assert job.workspace == os.path.join(manager.workspace, user.username, str(job.pk))
        job.execute()
    for job in jobs:
        wait_for(
            lambda job=job: refresh_jobs() and status_of(job) == JobStatus.RESULTS_READY,
            step=0.2,
            what="Results-Ready",
        )
        job.process_results()
        assert job.status == "Complete"
    assert [(Path(j.workspace) / "result.txt").read_text() for j in jobs] == [
        "first\n",
        "second\n",
    ]


def test_inline_inputs_are_kept_in_the_jobs_own_folder(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = manager.create_job(
        "inline",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={"executable": "/bin/true"},
        input_files={"data.txt": b"abc"},
    )
    stored = Path(job.input_files["data.txt"])  # type: ignore[attr-defined]
    assert stored.read_bytes() == b"abc"
    assert Path(job.workspace) in stored.parents


def test_function_must_be_an_import_path(manager: JobManager, user: Any) -> None:
    for bad in ("total", "my app.total", "tasks.", ".total"):
        with pytest.raises(InvalidArgumentError, match="not an import path"):
            manager.create_job("f", user, "DASK", function=bad)
    with pytest.raises(InvalidArgumentError, match="not an import path"):
        manager.create_job("f", user, "BASIC", process_results_function="done")
    assert not Job.objects.exists()
    dask = DaskScheduler.objects.create(name="never-contacted", host="127.0.0.1:8786")
    job = manager.create_job("f", user, "DASK", scheduler=dask, function="my_app.tasks.total")
    assert job.function == "my_app.tasks.total"  # type: ignore[attr-defined]
