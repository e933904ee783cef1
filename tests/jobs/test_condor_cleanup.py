"""No remote directory is left behind by resubmit()/delete() of an active Condor job (issue 15).

After ``condor_rm`` the schedd writes the abort event into the job's user log when the job
leaves the queue, re-creating the directory if it was deleted meanwhile; the stand-in does
the same (for a running job, ``CONDOR_STANDIN_REMOVE_LINGER`` = 1 s after ``condor_rm``).
Each test waits until the old cluster has left the queue and then looks for the directory.
The jobs have a user log (``log = job.log``): that is where the abort event goes.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from tests.jobs.conftest import wait_for
from tests.jobs.test_condor_lifecycle import sleeper, wait_running
from tethys_compute import condor
from tethys_compute.condor.cleanup import clean_when_gone
from tethys_compute.jobs.manager import JobManager
from tethys_compute.models import CondorScheduler, CondorWorkflow, Job

pytestmark = [pytest.mark.sshd]


def left_queue(scheduler: CondorScheduler, cluster: int) -> bool:
    """True once no job of ``cluster`` (nor of its DAG) is in the queue."""
    infos = condor.job_statuses(scheduler.get_remote_host(), [str(cluster)], timeout=10)
    return bool(infos) and not any(i.in_queue for i in infos.values())


def test_resubmit_of_a_running_job_leaves_no_directory_behind(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = sleeper(manager, user, condor_scheduler, log="job.log")
    job.execute()
    wait_running(job)
    old_cluster, old_dir = job.cluster_id, job.remote_dir
    assert old_cluster is not None and os.path.isdir(old_dir)
    job.resubmit()
    wait_for(lambda: left_queue(condor_scheduler, old_cluster), what="old cluster left")
    assert not os.path.exists(old_dir), sorted(os.listdir(old_dir))
    job.stop()


def test_delete_of_a_running_workflow_leaves_no_directory_behind(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    workflow = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=condor_scheduler)
    assert isinstance(workflow, CondorWorkflow)
    workflow.add_node("nap", {"executable": "/bin/sleep", "arguments": ["30"]})
    workflow.execute()
    wait_running(workflow)
    cluster, remote_dir = workflow.cluster_id, workflow.remote_dir
    assert cluster is not None and os.path.isdir(remote_dir)
    workflow.delete()
    wait_for(lambda: left_queue(condor_scheduler, cluster), what="DAG left the queue")
    assert not os.path.exists(remote_dir), sorted(os.listdir(remote_dir))


@pytest.mark.urls("tests.jobs.urls")
def test_admin_delete_of_a_running_job_leaves_no_directory_behind(
    admin_client: Any, manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = sleeper(manager, user, condor_scheduler, log="job.log")
    job.execute()
    wait_running(job)
    cluster, remote_dir = job.cluster_id, job.remote_dir
    assert cluster is not None
    response = admin_client.post(
        "/admin/tethys_compute/job/",
        {"action": "delete_with_cleanup", "_selected_action": [job.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()
    wait_for(lambda: left_queue(condor_scheduler, cluster), what="cluster left the queue")
    assert not os.path.exists(remote_dir), sorted(os.listdir(remote_dir))


def test_the_wait_for_the_queue_is_bounded(condor_scheduler: CondorScheduler) -> None:
    """A cluster that stays queued (held) delays the clean-up by ``wait`` seconds at most."""
    host = condor_scheduler.get_remote_host()
    job = condor.submit(host, {"executable": "/bin/true", "hold": True, "log": "job.log"})
    try:
        started = time.monotonic()
        gone = clean_when_gone(host, job.remote_dir, job.cluster_id, wait=0.6)
        took = time.monotonic() - started
        assert gone is False
        assert 0.25 <= took < 3.0, took  # polled more than once, never past the bound
        assert not os.path.exists(job.remote_dir)
    finally:
        condor.remove(host, str(job.cluster_id))
