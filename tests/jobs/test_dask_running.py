"""A Dask job shows Running when its task starts, pushed by the scheduler (no refresh)."""

from __future__ import annotations

import time
from typing import Any

import dask
import pytest

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, DaskScheduler

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]


def test_a_running_task_shows_running_within_a_second_without_a_refresh(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = manager.create_job(
        "nap", user, "DASK", scheduler=dask_scheduler, function="time.sleep", args=[4]
    )
    assert isinstance(job, DaskJob)
    job.execute()
    submitted = time.monotonic()
    wait_for(lambda: status_of(job) == JobStatus.RUNNING, timeout=1.5, what="Running")
    assert time.monotonic() - submitted < 1.5
    job.refresh_from_db()
    assert job.start_time is not None and job.completion_time is None
    # Then the done callback finishes it; Running never comes back.
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, timeout=20, what="Complete")
    time.sleep(0.3)
    assert status_of(job) == JobStatus.COMPLETE


def test_a_quick_task_never_goes_back_from_complete(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    jobs = [
        manager.create_job(
            f"add{n}", user, "DASK", scheduler=dask_scheduler, function="operator.add", args=[n, 1]
        )
        for n in range(5)
    ]
    for job in jobs:
        job.execute()
    for job in jobs:
        wait_for(lambda job=job: status_of(job) == JobStatus.COMPLETE, what="Complete")
    time.sleep(0.5)  # any late task-start event has been handled by now
    assert {status_of(job) for job in jobs} == {JobStatus.COMPLETE}


@pytest.mark.parametrize("given", ["delayed", "future"])
def test_work_given_to_execute_shows_running_too(
    given: str, manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = manager.create_job(given, user, "DASK", scheduler=dask_scheduler)
    assert isinstance(job, DaskJob)
    if given == "delayed":
        work: Any = dask.delayed(time.sleep)(3, dask_key_name=f"nap-{job.pk}-{time.time_ns()}")
    else:
        work = dask_scheduler.client.submit(time.sleep, 3, pure=False)
        time.sleep(0.3)  # it has started before execute() sees it
    job.execute(work)
    wait_for(lambda: status_of(job) == JobStatus.RUNNING, timeout=1.5, what="Running")
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, timeout=20, what="Complete")
