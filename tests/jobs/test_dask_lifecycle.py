"""Dask jobs: what execute() accepts, fresh statuses, real task times, exiting scripts."""

from __future__ import annotations

import operator
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import dask
import pytest
from django.db import connection

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import process_ready_results, refresh_jobs
from tethys_compute.jobs.status import JobStatus, apply_status
from tethys_compute.models import DaskJob, DaskScheduler

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]


def bare_job(manager: JobManager, user: Any, scheduler: DaskScheduler) -> DaskJob:
    job = manager.create_job("bare", user, "DASK", scheduler=scheduler)
    assert isinstance(job, DaskJob)
    return job


def test_execute_runs_a_delayed_object(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = bare_job(manager, user, dask_scheduler)
    job.execute(dask.delayed(operator.add)(dask.delayed(operator.mul)(3, 4), 5))
    assert job.fetch_result(timeout=20) == 17
    assert job.status == "Complete"


def test_execute_takes_a_future(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = bare_job(manager, user, dask_scheduler)
    future = dask_scheduler.client.submit(operator.mul, 6, 7, pure=False)
    job.execute(future)
    assert job.key == str(future.key)
    assert job.fetch_result(timeout=20) == 42
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what="done callback")


def test_result_leaves_the_object_with_the_stored_status(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = manager.create_job(
        "add", user, "DASK", scheduler=dask_scheduler, function="operator.add", args=[1, 2]
    )
    job.execute()
    assert job.status == "Submitted"
    assert job.fetch_result(timeout=20) == 3
    assert job.status == "Complete" and job.completion_time is not None
    assert job.status_code == status_of(job)


def test_done_callback_records_the_tasks_own_start_and_end(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = manager.create_job(
        "nap", user, "DASK", scheduler=dask_scheduler, function="time.sleep", args=[1.0]
    )
    job.execute()
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what="done callback")

    def timed() -> bool:
        job.refresh_from_db()
        return bool(job.start_time and job.completion_time)

    wait_for(timed, what="times")
    ran = job.completion_time - job.start_time  # type: ignore[operator]
    assert timedelta(seconds=0.9) <= ran < timedelta(seconds=10)


def test_refresher_records_the_tasks_own_start_and_end(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    # A job whose submitting process is gone: no done callback, only the refresher.
    job = bare_job(manager, user, dask_scheduler)
    job.callback_key = "gone"
    job.key = f"tethys-job-{job.pk}-gone"
    job.save(update_fields=["callback_key", "key"])
    apply_status(job, JobStatus.SUBMITTED)
    client = dask_scheduler.client
    future = client.submit(time.sleep, 1.0, key=job.key, pure=False)
    client.publish_dataset(future, name=job.key, override=True)
    future.result(timeout=20)
    time.sleep(1.0)  # the refresh comes a while after the end
    before_refresh = time.time()
    refresh_jobs()
    # Finished well: Results-Ready until its result is stored (Tethys' stored ``result``),
    # which compute_refresh does right after the refresh.
    assert status_of(job) == JobStatus.RESULTS_READY
    assert process_ready_results() == 1
    job.refresh_from_db()
    assert job.status == "Complete" and job.result is None
    assert job.start_time is not None and job.completion_time is not None
    ran = job.completion_time - job.start_time
    assert timedelta(seconds=0.9) <= ran < timedelta(seconds=10)
    assert job.completion_time.timestamp() < before_refresh - 0.5


def test_a_script_exiting_while_its_job_runs_prints_no_error(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = manager.create_job(
        "nap", user, "DASK", scheduler=dask_scheduler, function="time.sleep", args=[1.5]
    )
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(root))
    name = str(connection.settings_dict["NAME"])
    env["TETHYS_TEST_SQLITE_FILE" if connection.vendor == "sqlite" else "PGDATABASE"] = name
    script = (
        "import logging, django\n"
        "logging.basicConfig()\n"
        "django.setup()\n"
        "from tethys_compute.models import Job\n"
        f"Job.objects.get_subclass(pk={job.pk}).execute()\n"
        "print('submitted')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "submitted"
    assert "cannot schedule new futures" not in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    # The refresher picks the job up (and compute_refresh then stores its result).
    wait_for(
        lambda: (
            refresh_jobs()
            and (process_ready_results() or True)
            and status_of(job) == JobStatus.COMPLETE
        ),
        step=0.2,
        what="refresher records Complete",
    )
    job.refresh_from_db()
    assert job.start_time is not None and job.completion_time is not None
