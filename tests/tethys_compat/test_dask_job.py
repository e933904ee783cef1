"""Tethys Platform's ``DaskJob`` on real dask scheduler and worker processes."""

from __future__ import annotations

import datetime
import operator
from typing import Any

import dask
import pytest

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.job_manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, DaskScheduler

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]


def new_job(manager: JobManager, user: Any, scheduler: Any, **kwargs: Any) -> DaskJob:
    job = manager.create_job(
        job_type="DASK", name="dask_job", user=user, scheduler=scheduler, **kwargs
    )
    assert isinstance(job, DaskJob)
    return job


def finished(job: DaskJob) -> DaskJob:
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what="Complete")
    job.refresh_from_db()
    return job


def test_result_is_the_stored_value_once_the_job_is_complete(
    job_manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = new_job(job_manager, user, dask_scheduler)
    assert job.result is None
    job.execute(dask.delayed(operator.mul)(6, 7))
    again = job_manager.get_job(job_id=job.pk)
    assert isinstance(again, DaskJob)
    assert finished(again).result == 42  # an attribute, not a method


def test_process_results_function_gets_the_value_and_its_return_is_the_result(
    job_manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    from tests.tethys_compat.job_functions import convert_to_dollar_sign

    job = new_job(job_manager, user, dask_scheduler)
    job.process_results_function = convert_to_dollar_sign
    job.execute(dask_scheduler.client.submit(operator.add, 40, 2, pure=False))
    assert finished(job).result == "$42"


def test_forget_true_stores_no_result(
    job_manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = new_job(job_manager, user, dask_scheduler, forget=True)
    job.execute(dask.delayed(operator.add)(1, 1))
    assert finished(job).result is None


def test_future_done_and_retry_follow_the_task(
    job_manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = new_job(job_manager, user, dask_scheduler)
    assert job.future is None and job.done() is None
    job.execute(dask.delayed(operator.add)(2, 3))
    future = job.future
    assert future is not None and future.key == job.key
    wait_for(lambda: job.done() is True, what="done()")
    assert future.result(timeout=10) == 5
    job.retry()  # a finished task: nothing to retry, and no error


def test_update_status_interval_of_a_dask_job_is_zero(
    job_manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = new_job(job_manager, user, dask_scheduler)
    assert job.update_status_interval == datetime.timedelta(0)


def test_fetch_result_waits_for_the_value_on_the_scheduler(
    job_manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = new_job(job_manager, user, dask_scheduler)
    job.execute(dask.delayed(operator.sub)(10, 3))
    assert job.fetch_result(timeout=20) == 7
    assert job.status == "Complete" and job.result == 7


def test_unreachable_scheduler_client_raises_dask_job_exception(
    refused_address: str, db: None
) -> None:
    from tethys_compute.models.dask.dask_job_exception import DaskJobException

    scheduler = DaskScheduler.objects.create(name="nowhere", host=refused_address, timeout=2)
    with pytest.raises(DaskJobException):
        scheduler.client  # noqa: B018 - the property connects


def test_pause_and_resume_of_a_dask_job_raise_not_implemented_error(
    job_manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = new_job(job_manager, user, dask_scheduler)
    with pytest.raises(NotImplementedError, match="cannot be paused"):
        job.pause()
    with pytest.raises(NotImplementedError):
        job.resume()


def test_resubmit_of_a_dask_job_made_from_delayed_takes_the_work_again(
    job_manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = new_job(job_manager, user, dask_scheduler)
    job.execute(dask.delayed(operator.add)(1, 2))
    assert finished(job).result == 3
    job.resubmit(dask.delayed(operator.add)(3, 4))
    assert finished(job).result == 7
