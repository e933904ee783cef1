"""A job whose scheduler is gone can always be stopped, and the scheduler removed.

The scheduler process is killed for real; ``stop()`` waits at most the
record's timeout, then marks the job Aborted here and says it was not
confirmed on the scheduler.
"""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tethys_compute.dask_processes import LocalDaskCluster
from tethys_compute.jobs.manager import JobManager
from tethys_compute.models import DaskJob, DaskScheduler, Job, Scheduler
from tethys_compute.scheduler_manager import create_dask_scheduler

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]

GONE = "scheduler unreachable: not confirmed stopped on 'Gone'"


def sleeping_job(manager: JobManager, user: Any, scheduler: DaskScheduler, name: str) -> DaskJob:
    job = manager.create_job(
        name, user, "DASK", scheduler=scheduler, function="time.sleep", args=[60]
    )
    assert isinstance(job, DaskJob)
    job.execute()
    return job


def kill_scheduler(cluster: LocalDaskCluster) -> None:
    process = cluster.scheduler
    assert process is not None
    process.popen.kill()
    process.popen.wait(timeout=10)


def test_stop_of_a_job_whose_scheduler_was_killed_marks_it_aborted_within_the_timeout(
    private_dask_cluster: LocalDaskCluster, manager: JobManager, user: Any
) -> None:
    record = create_dask_scheduler("Gone", private_dask_cluster.address, timeout=2)
    first = sleeping_job(manager, user, record, "first")
    second = sleeping_job(manager, user, record, "second")
    third = sleeping_job(manager, user, record, "third")
    kill_scheduler(private_dask_cluster)

    # The API: bounded by the record's timeout, then Aborted here, and it says so.
    started = time.monotonic()
    assert first.stop_confirmed() is False
    assert time.monotonic() - started < 2 + 5
    first.refresh_from_db()
    assert first.status == "Aborted"
    assert first.status_message == GONE + "."

    # The CLI: --force asks nothing of the scheduler (no wait at all).
    out = io.StringIO()
    started = time.monotonic()
    with pytest.raises(CommandError, match="marked Aborted here only") as unconfirmed:
        call_command("jobs", "stop", str(second.pk), "--force", stdout=out)
    assert unconfirmed.value.returncode == 3  # not a success: nobody confirmed the stop
    assert time.monotonic() - started < 1.5
    assert "Aborted, stopped with force: not confirmed stopped on 'Gone'." in out.getvalue()

    # A finished job is skipped, and the command says so with a non-zero exit.
    with pytest.raises(CommandError, match=r"1 job\(s\) skipped \(already finished\): "):
        call_command("jobs", "stop", str(first.pk), stdout=io.StringIO())

    # Removing the scheduler: refused while a job is active, with the way out...
    with pytest.raises(CommandError, match="--stop-jobs"):
        call_command("schedulers", "remove", "Gone", "--yes", stdout=io.StringIO())
    # ... which stops (here: marks) its jobs and removes it.
    out = io.StringIO()
    call_command("schedulers", "remove", "Gone", "--yes", "--stop-jobs", stdout=out)
    assert f"Job {third.pk} (third): Aborted" in out.getvalue()
    assert not Scheduler.objects.filter(name="Gone").exists()
    third.refresh_from_db()
    assert third.status_message == f"Aborted: scheduler 'Gone' was removed; {GONE}."
    # The jobs keep their history, and can be deleted.
    assert Job.objects.get(pk=first.pk).scheduler_name == "Gone"
    Job.objects.get(pk=first.pk).delete()
    assert not Job.objects.filter(pk=first.pk).exists()


def test_delete_of_a_job_whose_scheduler_was_killed_needs_no_answer(
    private_dask_cluster: LocalDaskCluster, manager: JobManager, user: Any
) -> None:
    record = create_dask_scheduler("Gone", private_dask_cluster.address, timeout=2)
    job = sleeping_job(manager, user, record, "doomed")
    kill_scheduler(private_dask_cluster)
    started = time.monotonic()
    job.delete()
    # One bounded wait (the stop's), not a second one to clean: old code took two.
    assert time.monotonic() - started < 2 + 1.5
    assert not Job.objects.filter(pk=job.pk).exists()
    record.delete()


def test_admin_offers_the_way_out_when_the_scheduler_is_gone(
    private_dask_cluster: LocalDaskCluster, manager: JobManager, user: Any, admin_client: Any
) -> None:
    record = create_dask_scheduler("Gone", private_dask_cluster.address, timeout=2)
    job = sleeping_job(manager, user, record, "orphan")
    kill_scheduler(private_dask_cluster)
    delete_page = f"/admin/tethys_compute/daskscheduler/{record.pk}/delete/"
    html = admin_client.get(delete_page).content.decode()
    link = f"/admin/tethys_compute/job/?scheduler__id__exact={record.pk}&amp;state=active"
    assert link in html and "manage.py schedulers remove Gone --stop-jobs" in html
    listed = admin_client.get(link.replace("&amp;", "&")).content.decode()
    assert "orphan" in listed
    stopped = admin_client.post(
        "/admin/tethys_compute/job/",
        {"action": "stop_jobs", "_selected_action": [job.pk]},
        follow=True,
    ).content.decode()
    assert f"Job {job.pk} (orphan): Aborted, scheduler unreachable: not confirmed" in stopped
    html = admin_client.get(delete_page).content.decode()
    assert "--stop-jobs" not in html  # nothing protects it now
    admin_client.post(delete_page, {"post": "yes"})
    assert not Scheduler.objects.filter(name="Gone").exists()


@pytest.mark.sshd
def test_stop_of_a_condor_job_whose_submit_host_is_down_marks_it_aborted(
    manager: JobManager, user: Any, condor_scheduler: Any, condor_server: Any
) -> None:
    job = manager.create_job(
        "long",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={"executable": "/bin/sleep", "arguments": ["60"]},
    )
    job.execute()
    condor_server.stop()
    try:
        started = time.monotonic()
        assert job.stop_confirmed() is False
        elapsed = time.monotonic() - started
    finally:
        condor_server.start()
    job.refresh_from_db()
    assert job.status == "Aborted"
    assert job.status_message == (
        f"scheduler unreachable: not confirmed stopped on '{condor_scheduler.name}'."
    )
    assert elapsed < 30


@pytest.mark.sshd
def test_stop_of_a_workflow_whose_submit_host_is_down_aborts_its_nodes_too(
    manager: JobManager, user: Any, condor_scheduler: Any, condor_server: Any
) -> None:
    workflow = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=condor_scheduler)
    first = workflow.add_node("first", {"executable": "/bin/sleep", "arguments": ["60"]})
    workflow.add_node("second", {"executable": "/bin/true"}, parents=[first])
    workflow.execute()
    condor_server.stop()
    try:
        assert workflow.stop_confirmed() is False
    finally:
        condor_server.start()
    workflow.refresh_from_db()
    assert workflow.status == "Aborted"
    assert {node.status for node in workflow.nodes} == {"Aborted"}
