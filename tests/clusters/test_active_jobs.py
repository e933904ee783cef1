"""Stopping or terminating a cluster under a running job: refused, or (force) the job first.

A real local cluster runs a real Dask job (``time.sleep``); nothing here is
simulated.  Without ``--force`` nothing is touched; with it the job is
stopped while its scheduler still answers, marked Aborted with the reason,
and only then are the nodes and the scheduler record removed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as WebClient

from tests.clusters.test_manager import alive, local_config
from tests.jobs.conftest import status_of, wait_for
from tethys_compute.clusters import service
from tethys_compute.clusters.active_jobs import ClusterHasActiveJobs
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import DaskJob, DaskScheduler, Job

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]


def running_job(tmp_path: Path, cluster: str, name: str) -> DaskJob:
    scheduler = DaskScheduler.objects.get(name=cluster)
    manager = JobManager("app", tmp_path / "workspace")
    job = manager.create_job(
        name, None, "DASK", scheduler=scheduler, function="time.sleep", args=[120]
    )
    assert isinstance(job, DaskJob)
    job.execute()
    # The task really runs on the cluster's worker.
    wait_for(lambda: scheduler.client.processing() and any(scheduler.client.processing().values()))
    return job


def pids(name: str) -> list[int]:
    record = ClusterRecord.objects.get(name=name)
    nodes = record.provider_state.get("nodes") or {}
    return [int(node["pid"]) for node in nodes.values() if node.get("pid")]


def test_stop_and_terminate_refuse_under_an_active_job_then_force_aborts_it_first(
    tmp_path: Path,
) -> None:
    config = local_config(tmp_path, size=2)
    service.start_cluster("dev", "busy1", config_path=str(config), background=False)
    job = running_job(tmp_path, "busy1", "nap")

    # Refused, naming the job and the way out; nothing was touched.
    with pytest.raises(ClusterHasActiveJobs) as refused:
        service.stop_cluster("busy1")
    text = str(refused.value)
    assert f"{job.pk} ('nap', " in text and "on 'busy1')" in text
    assert f"manage.py jobs stop {job.pk}" in text
    assert "manage.py clusters stop busy1 --force" in text
    with pytest.raises(CommandError, match="clusters terminate busy1 --force"):
        call_command("clusters", "terminate", "busy1", stdout=io.StringIO())
    record = ClusterRecord.objects.get(name="busy1")
    assert record.status == "RUN"
    assert all(alive(pid) for pid in pids("busy1"))
    assert status_of(job) in (JobStatus.SUBMITTED, JobStatus.RUNNING)
    assert DaskScheduler.objects.filter(name="busy1").exists()

    # stop --force: the job is stopped first (Aborted, with the reason), then the nodes.
    call_command("clusters", "stop", "busy1", "--force", "--timeout", "60", stdout=io.StringIO())
    job.refresh_from_db()
    assert job.status == "Aborted"
    assert job.status_message == "Aborted: cluster 'busy1' was stopped"
    assert ClusterRecord.objects.get(name="busy1").status == "STP"
    assert not DaskScheduler.objects.filter(name="busy1").exists()

    # Started again, with a new job: terminate --force aborts it, then removes everything.
    service.start_cluster(None, "busy1", background=False)
    second = running_job(tmp_path, "busy1", "second")
    before = pids("busy1")
    call_command(
        "clusters", "terminate", "busy1", "--force", "--timeout", "60", stdout=io.StringIO()
    )
    second.refresh_from_db()
    assert second.status == "Aborted"
    assert second.status_message == "Aborted: cluster 'busy1' was terminated"
    assert second.scheduler is None and second.scheduler_name == "busy1"
    assert not ClusterRecord.objects.filter(name="busy1").exists()
    assert not DaskScheduler.objects.filter(name="busy1").exists()
    wait_for(lambda: not any(alive(pid) for pid in before), what="the nodes to end")
    # Both jobs are history now: they can be deleted.
    for old in Job.objects.filter(pk__in=[job.pk, second.pk]).select_subclasses():
        old.delete()


def test_admin_force_terminate_lists_the_jobs_it_will_abort(
    tmp_path: Path, admin_client: WebClient
) -> None:
    config = local_config(tmp_path, size=2)
    service.start_cluster("dev", "busy2", config_path=str(config), background=False)
    job = running_job(tmp_path, "busy2", "long run")
    record = ClusterRecord.objects.get(name="busy2")
    page = admin_client.post(
        "/admin/tethys_compute/cluster/",
        {"action": "force_terminate_clusters", "_selected_action": [record.pk]},
    )
    html = page.content.decode()
    assert "stopped first and\nmarked Aborted" in html
    assert f"{job.pk}: long run (" in html and "on busy2)" in html
    admin_client.post(
        "/admin/tethys_compute/cluster/",
        {"action": "force_terminate_clusters", "_selected_action": [record.pk], "confirm": "1"},
    )
    assert service.wait("busy2", timeout=60) is None
    assert Job.objects.get(pk=job.pk).status == "Aborted"
    Job.objects.get(pk=job.pk).delete()


def test_cluster_api_terminate_refuses_before_touching_nodes(tmp_path: Path) -> None:
    """The TethysCluster API (not only the service) refuses first."""
    from tethys_compute.clusters.manager import get_cluster_manager

    config = local_config(tmp_path, size=2)
    service.start_cluster("dev", "busy3", config_path=str(config), background=False)
    job = running_job(tmp_path, "busy3", "api")
    cluster = get_cluster_manager(str(config)).get_cluster("busy3")
    with pytest.raises(ClusterHasActiveJobs):
        cluster.terminate_cluster()
    assert all(alive(pid) for pid in pids("busy3"))
    assert ClusterRecord.objects.get(name="busy3").status == "RUN"
    cluster.terminate_cluster(force=True)
    assert Job.objects.get(pk=job.pk).status == "Aborted"
    assert not ClusterRecord.objects.filter(name="busy3").exists()
    Job.objects.get(pk=job.pk).delete()
