"""The refresher's condor_history reads a bounded part of the history (issue 15).

``-scanlimit`` (``CONDOR_HISTORY_SCAN_LIMIT``) bounds the records read, newest first;
``-limit`` stops the scan once every proc of the plain jobs asked about was found.  The
stand-in honours both as HTCondor does.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from tests.jobs.conftest import status_of
from tests.jobs.test_refresh_batching import counted
from tethys_compute import condor
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import condor_query, refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorJob, CondorScheduler, Job

pytestmark = [pytest.mark.sshd, pytest.mark.django_db]


def finished_jobs(
    manager: JobManager, user: Any, scheduler: CondorScheduler, count: int
) -> list[CondorJob]:
    """``count`` jobs that finished one after the other (oldest first), never refreshed."""
    host = scheduler.get_remote_host()
    jobs = []
    for index in range(count):
        job = manager.create_job(
            f"t{index}",
            user,
            "CONDOR",
            scheduler=scheduler,
            submit_description={"executable": "/bin/true"},
        )
        job.execute()
        assert isinstance(job, CondorJob) and job.cluster_id is not None
        condor.wait(host, str(job.cluster_id), timeout=20)
        jobs.append(job)
    return jobs


def test_refresh_bounds_the_history_scan(
    settings: Any, manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    settings.TETHYS_COMPUTE = {
        **getattr(settings, "TETHYS_COMPUTE", {}),
        "CONDOR_HISTORY_SCAN_LIMIT": 2,
    }
    oldest, middle, newest = finished_jobs(manager, user, condor_scheduler, 3)
    record, recorder = counted(condor_scheduler)
    infos = condor_query(record, [oldest, middle, newest], timeout=10)
    assert len(recorder.argvs) == 1
    script = recorder.argvs[0][-1]
    assert "condor_history" in script
    assert " -scanlimit 2 -limit 3" in " ".join(shlex.split(script.replace("\n", " ; ")))
    # Only the two newest records were read.
    assert {i.cluster_id for i in infos} == {middle.cluster_id, newest.cluster_id}
    report = refresh_jobs(timeout=20)
    assert not report.failed
    assert status_of(newest) == status_of(middle) == JobStatus.COMPLETE
    assert status_of(oldest) == JobStatus.SUBMITTED
    assert "knows no job of cluster" in Job.objects.get(pk=oldest.pk).refresh_error


def test_default_scan_limit_finds_every_recent_job(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    jobs = finished_jobs(manager, user, condor_scheduler, 3)
    record, host = counted(condor_scheduler)
    infos = condor_query(record, jobs, timeout=10)
    assert host.runs == 1
    assert {i.cluster_id for i in infos} == {j.cluster_id for j in jobs}
