"""The refresher's condor_history reads a bounded part of the history (issue 15).

``-scanlimit`` (``CONDOR_HISTORY_SCAN_LIMIT``) bounds the records read, newest first;
``-limit`` stops the scan once every proc of the plain jobs that ``condor_q`` did not
list was found, and the history is not read at all when the queue listed them all
(issue 18).  The stand-in honours both options as HTCondor does.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from tests.jobs.conftest import status_of
from tests.jobs.test_refresh_batching import counted
from tethys_compute import condor
from tethys_compute.condor.status_scan import (
    QUEUE_THEN_HISTORY,
    queue_then_history,
    split_queue_then_history,
)
from tethys_compute.exceptions import CondorError
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
    words = shlex.split(recorder.argvs[0][-1])
    at = words.index(QUEUE_THEN_HISTORY)
    # -scanlimit 2; 3 procs expected (the history looks for those condor_q did not list).
    assert words[at + 4 : at + 6] == ["2", "3"]
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


def _held(manager: JobManager, user: Any, scheduler: CondorScheduler, count: int) -> list[Any]:
    jobs = manager.create_jobs(
        "held_{id}",
        user,
        "CONDOR",
        [{"submit_description": {"executable": "/bin/true", "hold": True}}] * count,
        scheduler=scheduler,
    )
    manager.execute_all(jobs)
    return jobs


def test_the_history_is_not_read_when_the_queue_lists_every_proc(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    """The scan limit is made invalid: condor_history fails whenever it runs."""
    jobs = _held(manager, user, condor_scheduler, 2)
    host = condor_scheduler.get_remote_host()
    constraint = " || ".join(f"ClusterId == {job.cluster_id}" for job in jobs)

    def ask(expected: int | None) -> Any:
        argv, token = queue_then_history(
            constraint, ["ClusterId", "ProcId", "JobStatus"], scan_limit=0, expected=expected
        )
        argv[6] = "not-a-number"
        return host.run(argv), token

    result, token = ask(2)
    queue, history = split_queue_then_history(result, token, host.label)
    assert queue.count('"ClusterId"') == 2 and history == ""
    for expected in (3, None):  # one proc missing, or the count unknown: the history runs
        result, token = ask(expected)
        with pytest.raises(CondorError, match="^condor_history on .* failed"):
            split_queue_then_history(result, token, host.label)


def test_the_history_looks_only_for_the_procs_missing_from_the_queue(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    held = _held(manager, user, condor_scheduler, 2)
    (done,) = finished_jobs(manager, user, condor_scheduler, 1)
    record, recorder = counted(condor_scheduler)
    infos = condor_query(record, [*held, done], timeout=10)
    assert recorder.runs == 1
    assert {(i.cluster_id, i.in_queue) for i in infos} == {
        (held[0].cluster_id, True),
        (held[1].cluster_id, True),
        (done.cluster_id, False),
    }
    # The command asked for 3 procs: condor_q listed 2, condor_history had to find 1.
    host = condor_scheduler.get_remote_host()
    argv, token = queue_then_history(
        f"ClusterId == {held[0].cluster_id} || ClusterId == {done.cluster_id}",
        ["ClusterId", "JobStatus"],
        scan_limit=100,
        expected=2,
    )
    queue, history = split_queue_then_history(host.run(argv), token, host.label)
    assert f'"ClusterId": {held[0].cluster_id}' in queue
    assert f'"ClusterId": {done.cluster_id}' in history
