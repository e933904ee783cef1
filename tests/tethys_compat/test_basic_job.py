"""Tethys Platform's ``BasicJob``: a job the app runs itself and reports on."""

from __future__ import annotations

from typing import Any

import pytest

from tethys_compute.job_manager import JobManager
from tethys_compute.models import BasicJob, Job

pytestmark = pytest.mark.django_db


def stored(job: Job) -> Job:
    return Job.objects.get_subclass(pk=job.pk)  # type: ignore[no-any-return]


def test_basic_job_made_directly_and_saved_like_a_tethys_model(user: Any) -> None:
    job = BasicJob(name="test_basicjob", description="d", user=user, label="test_label")
    job.save()
    assert job.type == "BasicJob"
    assert stored(job).description == "d"


def test_stop_of_a_basic_job_makes_it_aborted(job_manager: JobManager, user: Any) -> None:
    job = job_manager.create_job(name="s", user=user, job_type="BASIC")
    job.execute()
    assert job.stop() is None
    assert stored(job).status == "Aborted"


def test_pause_and_resume_of_a_basic_job_set_paused_then_running(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="p", user=user, job_type="BASIC")
    # Tethys: even a job that was never executed is paused by saying so.
    assert job.pause() is None
    assert stored(job).status == "Paused"
    assert job.resume() is None
    assert stored(job).status == "Running"


def test_basic_job_runs_through_app_reported_statuses(job_manager: JobManager, user: Any) -> None:
    job = job_manager.create_job(name="r", user=user, job_type="BASIC")
    job.execute()
    assert stored(job).status == "Submitted"
    job.status = "Running"
    assert stored(job).start_time is not None
    job.status = "Complete"
    done = stored(job)
    assert done.status == "Complete" and done.completion_time is not None


def test_logs_of_a_basic_job_are_empty(job_manager: JobManager, user: Any) -> None:
    job = job_manager.create_job(name="l", user=user, job_type="BASIC")
    assert job.get_logs() == {"stdout": "", "stderr": ""}
