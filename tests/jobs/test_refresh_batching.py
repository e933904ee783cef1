"""The refresher asks each Condor scheduler once, whatever the number of jobs and DAG nodes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.jobs.conftest import status_of, wait_for
from tests.jobs.factories import bulk_create_jobs
from tests.test_condor_e2e import CountingHost
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import MAX_TERMS_PER_QUERY, condor_query, refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, CondorWorkflow, Job

pytestmark = [pytest.mark.sshd, pytest.mark.django_db]


def counted(scheduler: CondorScheduler) -> tuple[CondorScheduler, CountingHost]:
    record = CondorScheduler.objects.get(pk=scheduler.pk)
    host = CountingHost(record.get_remote_host())
    record.__dict__["_remote_host_cache"] = (record._connection_key(), host)
    return record, host


def test_jobs_and_dag_nodes_in_one_remote_command(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    jobs: list[Job] = []
    for index in range(3):
        job = manager.create_job(
            f"j{index}",
            user,
            "CONDOR",
            scheduler=condor_scheduler,
            submit_description={"executable": "/bin/true"},
        )
        job.execute()
        jobs.append(job)
    workflow = manager.create_job("w", user, "CONDORWORKFLOW", scheduler=condor_scheduler)
    assert isinstance(workflow, CondorWorkflow)
    first = workflow.add_node("first", {"executable": "/bin/true"})
    workflow.add_node("second", {"executable": "/bin/true"}, parents=[first])
    workflow.execute()
    jobs.append(workflow)
    wait_for(
        lambda: refresh_jobs() and status_of(workflow) == JobStatus.COMPLETE,
        step=0.2,
        what="the DAG finished",
    )
    record, host = counted(condor_scheduler)
    infos = condor_query(record, jobs, timeout=10)
    assert host.runs == 1
    clusters = {i.cluster_id for i in infos}
    assert {j.cluster_id for j in jobs} <= clusters  # type: ignore[attr-defined]
    nodes = {i.dag_node_name for i in infos if i.dagman_job_id == workflow.cluster_id}
    assert nodes == {"first", "second"}


def test_more_jobs_than_one_constraint_takes_still_one_round_trip(
    user: Any, condor_scheduler: CondorScheduler
) -> None:
    count = MAX_TERMS_PER_QUERY + 50
    bulk_create_jobs(
        count,
        label="many",
        user=user,
        condor=condor_scheduler,
        cluster_ids=range(90000, 90000 + count),
    )
    jobs = list(Job.objects.filter(label="many").select_subclasses())
    record, host = counted(condor_scheduler)
    assert condor_query(record, jobs, timeout=20) == []
    assert host.runs == 1
    report = refresh_jobs(timeout=20)
    assert not report.failed and report.changed == 0
    unknown = Job.objects.filter(label="many").first()
    assert unknown is not None and "knows no job of cluster" in unknown.refresh_error
    # Nothing of these is queued: spare the teardown a condor_rm run each.
    Job.objects.filter(label="many").delete()
