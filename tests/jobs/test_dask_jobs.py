"""Dask jobs end to end on real dask scheduler and worker processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.exceptions import InvalidArgumentError, InvalidStatusTransition
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, DaskScheduler, Job

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]


def dask_job(
    manager: JobManager, user: Any, scheduler: Any, function: str, *args: Any, **kw: Any
) -> DaskJob:
    job = manager.create_job(
        function, user, "DASK", scheduler=scheduler, function=function, args=list(args), **kw
    )
    assert isinstance(job, DaskJob)
    return job


def test_dask_job_pushes_complete_from_its_done_callback(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = dask_job(manager, user, dask_scheduler, "operator.add", 1, 2)
    job.execute()
    assert job.key.startswith(f"tethys-job-{job.pk}-")
    # No refresher: the future's done callback reports.
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what="done callback")
    assert job.fetch_result(timeout=10) == 3
    job.refresh_from_db()
    assert job.completion_time is not None
    assert job.get_logs() == {"stdout": "", "stderr": ""}
    job.clean()
    assert job.key not in dask_scheduler.client.list_datasets()


def test_dask_results_callback_gets_the_value_and_its_return_is_stored(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    # Tethys Platform's meaning for Dask jobs: the callback takes the task's value.
    job = dask_job(
        manager,
        user,
        dask_scheduler,
        "math.factorial",
        5,
        process_results_function="tests.jobs.results.as_dollars",
    )
    job.execute()
    # The done callback fetches the value, runs the callback and stores its return.
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what="Complete")
    job.refresh_from_db()
    assert job.result == "$120"
    assert job.fetch_result(timeout=10) == 120


def test_failing_results_callback_keeps_the_job_results_ready(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = dask_job(
        manager,
        user,
        dask_scheduler,
        "operator.neg",
        4,
        process_results_function="tests.jobs.results.fail",
    )
    job.execute()
    # The done callback ran the results callback once; it failed.
    wait_for(
        lambda: Job.objects.filter(pk=job.pk, results_attempts__gte=1).exists(),
        what="a failed attempt",
    )
    job.refresh_from_db()
    assert job.status == "Results-Ready" and job.results_attempts == 1
    assert "RuntimeError: results could not be read" in job.status_message
    assert job.result is None  # nothing stored yet
    assert job.fetch_result(timeout=10) == -4  # the work is not lost


def test_failing_dask_job_is_error_with_the_exception(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = dask_job(manager, user, dask_scheduler, "operator.truediv", 1, 0)
    job.execute()
    wait_for(lambda: status_of(job) == JobStatus.ERROR, what="Error")
    job.refresh_from_db()
    assert "ZeroDivisionError" in job.status_message
    assert "ZeroDivisionError" in job.get_logs()["stderr"]


def test_refresh_sees_a_running_task_and_stop_cancels_it(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = dask_job(manager, user, dask_scheduler, "time.sleep", 20)
    job.execute()

    def running() -> bool:
        refresh_jobs()
        return status_of(job) == JobStatus.RUNNING

    wait_for(running, step=0.1, what="refresh sees processing")
    job.refresh_from_db()
    assert job.last_refresh_ok_at is not None
    with pytest.raises(InvalidStatusTransition, match="cannot be paused"):
        job.pause()
    job.stop()
    assert job.status == "Aborted"
    refresh_jobs()
    assert status_of(job) == JobStatus.ABORTED


def test_dask_job_without_a_dask_scheduler_is_refused_at_creation(
    manager: JobManager, user: Any, condor_scheduler: Any
) -> None:
    with pytest.raises(InvalidArgumentError, match="no scheduler was given") as refused:
        dask_job(manager, user, None, "operator.add", 1, 2)
    assert "scheduler=get_scheduler('<name>')" in str(refused.value)
    with pytest.raises(InvalidArgumentError, match="is a CondorScheduler"):
        dask_job(manager, user, condor_scheduler, "operator.add", 1, 2)
    assert not Job.objects.exists()


def test_arguments_that_json_cannot_hold_are_refused_naming_the_argument(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        dask_job(manager, user, dask_scheduler, "operator.add", 1, {"when": {2, 3}})
    assert str(refused.value).startswith("args[1]['when'] is a set, which cannot be stored")
    with pytest.raises(InvalidArgumentError, match=r"^kwargs\['path'\] is a pathlib.PosixPath"):
        manager.create_job(
            "k",
            user,
            "DASK",
            scheduler=dask_scheduler,
            function="operator.add",
            kwargs={"path": Path("/tmp")},
        )
    with pytest.raises(InvalidArgumentError, match=r"^extended_properties key 1 is a int"):
        manager.create_job("e", user, "BASIC", extended_properties={1: "one"})
    assert not Job.objects.exists()


def test_workspace_exists_before_the_results_callback_runs(manager: JobManager, user: Any) -> None:
    job = manager.create_job(
        "ws", user, "BASIC", process_results_function="tests.jobs.results.write_into_workspace"
    )
    assert not Path(job.workspace).exists()
    job.execute()
    job.set_status("Results-Ready")
    job.process_results()
    assert job.status == "Complete", job.status_message
    assert (Path(job.workspace) / "written.txt").read_text() == "ok"


def test_a_dask_jobs_workspace_exists_once_its_results_callback_ran(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    # A Dask job's callback gets the task's value (Tethys' meaning), not the job:
    # its workspace folder is made before the callback runs all the same.
    job = manager.create_job(
        "ws",
        user,
        "DASK",
        scheduler=dask_scheduler,
        function="operator.neg",
        args=[2],
        process_results_function="operator.neg",
    )
    assert not Path(job.workspace).exists()
    job.execute()
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what="Complete")
    job.refresh_from_db()
    assert job.result == 2
    assert Path(job.workspace).is_dir()


def test_create_job_takes_a_function_and_refuses_unknown_keywords(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    import operator

    job = manager.create_job(
        "f", user, "DASK", scheduler=dask_scheduler, function=operator.mul, args=[6, 7]
    )
    assert job.function == "_operator.mul" or job.function == "operator.mul"
    with pytest.raises(InvalidArgumentError, match="unknown keyword"):
        manager.create_job("f", user, "DASK", nonsense=1)
    with pytest.raises(InvalidArgumentError, match="Unknown job_type"):
        manager.create_job("f", user, "SLURM")


def test_a_done_callback_after_fetch_result_recorded_the_end_says_nothing(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler, caplog: Any
) -> None:
    import logging
    import time as _time

    caplog.set_level(logging.INFO, logger="tethys_compute")
    job = dask_job(manager, user, dask_scheduler, "time.sleep", 0.5)
    job.execute()
    job.fetch_result(timeout=20)  # records the end itself, before or after the push
    assert status_of(job) == JobStatus.COMPLETE
    _time.sleep(1.0)  # let the done callback's thread run
    noise = [r.getMessage() for r in caplog.records if "not applied" in r.getMessage()]
    assert noise == []


def test_moving_a_scheduler_forgets_its_last_connection_test(
    dask_scheduler: DaskScheduler,
) -> None:
    record = DaskScheduler.objects.get(pk=dask_scheduler.pk)
    record.check_health()
    record.refresh_from_db()
    assert record.last_check_at is not None and record.last_check_ok is True
    record.description = "only the description"
    record.save()
    record.refresh_from_db()
    assert record.last_check_at is not None  # same place: the test still holds
    record.host = "tcp://127.0.0.1:9"
    record.save()
    record.refresh_from_db()
    assert (record.last_check_ok, record.last_check_at, record.last_check_summary) == (
        None,
        None,
        "",
    )
    record.host = dask_scheduler.host
    record.save()
