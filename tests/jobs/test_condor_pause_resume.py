"""Pause/resume and hold/release of a cluster id as real HTCondor answers them (issue 15).

``condor_hold C`` of a held cluster prints ``Couldn't find/hold all jobs in cluster C``
(exit 1) or ``There are no jobs in the queue`` (exit 0), never "already": the outcome is
decided from the procs' states.  Real sshd + the HTCondor stand-in, which answers so too.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.jobs.conftest import status_of, wait_for
from tests.jobs.test_condor_lifecycle import condor_state, sleeper
from tethys_compute import condor
from tethys_compute.condor import ActionOutcome
from tethys_compute.condor.parse import JobStatus as CondorStatus
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler

pytestmark = [pytest.mark.sshd]


def test_pause_twice_is_idempotent(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = sleeper(manager, user, condor_scheduler)
    job.execute()
    job.pause()
    job.pause()  # HTCondor: "Couldn't find/hold all jobs in cluster C" (exit 1)
    assert status_of(job) == JobStatus.PAUSED
    assert job.cluster_id is not None
    assert condor_state(condor_scheduler, job.cluster_id) == CondorStatus.HELD
    job.resume()
    job.resume()  # nothing held any more: still fine
    assert status_of(job) == JobStatus.SUBMITTED
    job.stop()


def test_resume_after_a_release_outside_the_portal(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = sleeper(manager, user, condor_scheduler)
    job.execute()
    job.pause()
    assert job.cluster_id is not None
    host = condor_scheduler.get_remote_host()
    assert condor.release(host, f"{job.cluster_id}.0").ok  # someone on the submit host
    job.resume()
    assert status_of(job) == JobStatus.SUBMITTED
    assert condor_state(condor_scheduler, job.cluster_id) in (
        CondorStatus.IDLE,
        CondorStatus.RUNNING,
    )
    job.stop()


def test_scheduler_hold_and_release_of_a_cluster_say_already(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = sleeper(manager, user, condor_scheduler)
    job.execute()
    cluster = str(job.cluster_id)
    assert condor_scheduler.hold(cluster).outcomes == {cluster: ActionOutcome.DONE}
    again = condor_scheduler.hold(cluster)
    assert again.outcomes == {cluster: ActionOutcome.ALREADY}
    assert "Couldn't find/hold" in again.messages[cluster]
    assert condor_scheduler.release(cluster).outcomes == {cluster: ActionOutcome.DONE}
    assert condor_scheduler.release(cluster).outcomes == {cluster: ActionOutcome.ALREADY}
    assert condor_scheduler.remove(cluster).outcomes == {cluster: ActionOutcome.DONE}
    wait_for(lambda: condor_state(condor_scheduler, int(cluster)) == CondorStatus.REMOVED)
    gone = condor_scheduler.hold(cluster)
    assert gone.outcomes[cluster] is ActionOutcome.NOT_FOUND


def test_pause_of_a_job_submitted_on_hold_replaces_the_hold_reason(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = sleeper(manager, user, condor_scheduler, hold=True)
    job.execute()
    job.pause()  # HTCondor: "All jobs in cluster C have been held" (exit 0)
    assert status_of(job) == JobStatus.PAUSED
    assert job.cluster_id is not None
    infos = condor.job_statuses(condor_scheduler.get_remote_host(), [str(job.cluster_id)])
    info = next(iter(infos.values()))
    assert info.status == CondorStatus.HELD
    assert info.hold_reason is not None and info.hold_reason.startswith("via condor_hold")
    refresh_jobs()
    assert status_of(job) == JobStatus.PAUSED
    job.stop()
