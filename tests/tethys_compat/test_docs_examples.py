"""The examples of Tethys Platform's jobs documentation, run unchanged against real schedulers.

Sources: ``docs/tethys_sdk/jobs.rst`` and ``docs/tethys_sdk/jobs/*.rst`` (Basic,
Dask, results, job status callback, custom statuses) and
``docs/tutorials/dask/`` (delayed, distributed, multiple leaf, the results
view).  ``App`` is a small stand-in app object; the job functions are the
tutorial's ``job_functions.py`` without its sleeps.  The Condor job and
workflow examples run in ``test_condor_job.py`` and ``test_condor_workflow.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory

from tests.jobs.conftest import status_of, wait_for
from tests.tethys_compat.conftest import StandInApp
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, Job, TethysJob

pytestmark = [pytest.mark.urls("tests.jobs.urls")]


@pytest.fixture
def request_of(user: Any) -> Any:
    request = RequestFactory().get("/apps/dask-tutorial/")
    request.user = user
    return request


def complete(job: Job) -> Job:
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what=f"{job.name} Complete")
    return Job.objects.get_subclass(pk=job.pk)  # type: ignore[no-any-return]


@pytest.mark.django_db
def test_basic_job_example(app: StandInApp, request_of: Any) -> None:
    job_manager = app.get_job_manager()
    job = job_manager.create_job(
        name="unique_job_name",
        user=request_of.user,
        job_type="BASIC",
        description="This is a sample basic job. It can't actually compute anything.",
        extended_properties={
            "app_spcific_property": "default_value",
        },
    )
    job.save()
    jobs = job_manager.list_jobs(request_of.user)
    assert [j.name for j in jobs] == ["unique_job_name"]
    assert jobs[0].extended_properties == {"app_spcific_property": "default_value"}


@pytest.mark.django_db
def test_creating_and_executing_a_job_example_saves_on_execute(
    app: StandInApp, request_of: Any
) -> None:
    job_manager = app.get_job_manager()
    job = job_manager.create_job(name="myjob_{id}", user=request_of.user, job_type="BASIC")
    job.extended_properties = {"one": 1, "two": 2}
    job.execute()
    stored = job_manager.get_job(job_id=job.pk, user=request_of.user)
    assert stored is not None and stored.extended_properties == {"one": 1, "two": 2}
    assert stored.name == f"myjob_{job.pk}"


@pytest.mark.dask
@pytest.mark.django_db(transaction=True)
def test_dask_delayed_tutorial_and_results_view(
    app: StandInApp, request_of: Any, dask_scheduler: Any
) -> None:
    from tests.tethys_compat.job_functions import delayed_job

    # run_job controller, job_type == "delayed"
    scheduler = app.get_scheduler(name="dask_primary")
    job_manager = app.get_job_manager()
    delayed = delayed_job()
    dask = job_manager.create_job(
        job_type="DASK",
        name="dask_delayed",
        user=request_of.user,
        scheduler=scheduler,
    )
    dask.execute(delayed)
    complete(dask)
    # result controller
    job = job_manager.get_job(job_id=dask.pk)
    job_result = job.result  # type: ignore[union-attr]
    name = job.name  # type: ignore[union-attr]
    assert (name, job_result) == ("dask_delayed", 15)


@pytest.mark.dask
@pytest.mark.django_db(transaction=True)
def test_dask_distributed_tutorial_with_results_callback(
    app: StandInApp, request_of: Any, dask_scheduler: Any
) -> None:
    from tests.tethys_compat.job_functions import convert_to_dollar_sign, distributed_job
    from tethys_compute.models.dask.dask_job_exception import DaskJobException

    scheduler = app.get_scheduler(name="dask_primary")
    job_manager = app.get_job_manager()
    try:
        client = scheduler.client
    except DaskJobException:  # the tutorial redirects to an error page
        pytest.fail("the session's Dask scheduler is unreachable")
    future = distributed_job(client)
    dask = job_manager.create_job(
        job_type="DASK",
        name="dask_distributed",
        user=request_of.user,
        scheduler=scheduler,
    )
    dask.process_results_function = convert_to_dollar_sign
    dask.execute(future)
    assert complete(dask).result == "$15"  # type: ignore[attr-defined]


@pytest.mark.dask
@pytest.mark.django_db(transaction=True)
def test_dask_multiple_leaf_tutorial(app: StandInApp, request_of: Any, dask_scheduler: Any) -> None:
    from tests.tethys_compat.job_functions import multiple_leaf_job

    scheduler = app.get_scheduler(name="dask_primary")
    job_manager = app.get_job_manager()
    client = scheduler.client
    futures = multiple_leaf_job(client)
    i = 100
    for future in futures:
        i += 1
        name = "dask_leaf" + str(i)
        dask = job_manager.create_job(
            job_type="DASK",
            name=name,
            user=request_of.user,
            scheduler=scheduler,
        )
        dask.execute(future)
    jobs = list(job_manager.list_jobs(request_of.user))
    assert [j.name for j in jobs] == ["dask_leaf101", "dask_leaf102", "dask_leaf103"]
    assert [complete(j).result for j in jobs] == [3, 5, 7]  # type: ignore[attr-defined]
    assert all(isinstance(j, DaskJob) for j in jobs)


@pytest.mark.dask
@pytest.mark.django_db(transaction=True)
def test_dask_forget_example_keeps_no_result(
    app: StandInApp, request_of: Any, dask_scheduler: Any
) -> None:
    from tests.tethys_compat.job_functions import delayed_job

    scheduler = app.get_scheduler(name="dask_primary")
    dask = app.get_job_manager().create_job(
        job_type="DASK",
        name="forgotten",
        user=request_of.user,
        scheduler=scheduler,
        forget=True,
    )
    dask.execute(delayed_job())
    assert complete(dask).result is None  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_job_status_callback_example(app: StandInApp, request_of: Any) -> None:
    job_manager = app.get_job_manager()
    job = job_manager.create_job(name="cb", user=request_of.user, job_type="BASIC")
    job.execute()
    callback_url = job_manager.get_job_status_callback_url(request_of, job.pk)
    assert callback_url.endswith(f"/update-job-status/{job.pk}/")
    assert Client().get(callback_url).json() == {"success": True}
    assert Client().get(callback_url + "?delay=0").json() == {"success": "scheduled"}


@pytest.mark.django_db
def test_custom_statuses_example(
    app: StandInApp, request_of: Any, tethys_status_lists: Any
) -> None:
    my_job = app.get_job_manager().create_job(name="c", user=request_of.user, job_type="BASIC")
    my_job.status = "Custom Status"
    TethysJob.add_custom_active_status("Custom Status")
    assert "Custom Status" in TethysJob.ACTIVE_STATUSES
    assert "Custom Status" in TethysJob.NON_TERMINAL_STATUSES
    assert Job.objects.get(pk=my_job.pk).status == "Custom Status"


@pytest.mark.django_db
def test_jobs_of_an_anonymous_visitor(app: StandInApp) -> None:
    job_manager = app.get_job_manager()
    job = job_manager.create_job(name="anon", user=AnonymousUser(), job_type="BASIC")
    assert list(job_manager.list_jobs(AnonymousUser())) == [job]
