"""Tethys Platform's ``JobManager``: made from an app, ``create_job``, ``get_job``, status URL."""

from __future__ import annotations

import operator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.test import Client, RequestFactory
from django.utils import timezone

from tests.jobs.conftest import status_of, wait_for
from tests.tethys_compat.conftest import StandInApp
from tethys_compute.exceptions import JobNotFoundError
from tethys_compute.job_manager import JobManager
from tethys_compute.jobs.status import JobStatus, apply_status
from tethys_compute.models import BasicJob, DaskJob, DaskScheduler, Job

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.jobs.urls")]


def test_job_manager_made_from_an_app_takes_its_package_as_label(app: StandInApp) -> None:
    manager = JobManager(app)
    assert manager.app is app
    assert manager.label == "dask_tutorial"
    assert manager.workspace == str(app.root)
    assert manager.job_templates == {}


def test_job_manager_from_label_and_workspace_still_works(tmp_path: Path) -> None:
    manager = JobManager("my_app", tmp_path)
    assert manager.app is None and manager.label == "my_app"


def test_create_job_with_tethys_keywords_sets_label_user_and_a_workspace(
    job_manager: JobManager, user: Any, app: StandInApp
) -> None:
    job = job_manager.create_job(name="j", user=user, job_type="BASIC")
    assert isinstance(job, BasicJob)
    assert job.label == "dask_tutorial" and job.user == user
    assert job.workspace.startswith(str(app.root))


def _dask_record() -> DaskScheduler:
    # Creating a Dask job needs its scheduler record here (docs/differences.rst);
    # nothing connects to it while the job is only created.
    return DaskScheduler.objects.get_or_create(name="compat", host="tcp://127.0.0.1:9")[0]


def test_create_job_takes_job_type_as_a_class(job_manager: JobManager, user: Any) -> None:
    job = job_manager.create_job(name="d", user=user, job_type=DaskJob, scheduler=_dask_record())
    assert isinstance(job, DaskJob)


def test_create_job_with_one_group_shares_the_job_with_it(
    job_manager: JobManager, user: Any
) -> None:
    group = Group.objects.create(name="hydrologists")
    job = job_manager.create_job(name="shared", user=user, groups=group, job_type="BASIC")
    assert list(job.groups.all()) == [group]
    assert list(job_manager.list_jobs(groups=[group])) == [job]


def test_create_job_third_positional_argument_is_groups(job_manager: JobManager, user: Any) -> None:
    group = Group.objects.create(name="g")
    job = job_manager.create_job("pos", user, group, "BASIC")
    assert list(job.groups.all()) == [group]


def test_create_job_for_an_anonymous_user_works(job_manager: JobManager) -> None:
    job = job_manager.create_job(name="anon", user=AnonymousUser(), job_type="BASIC")
    assert job.pk is not None and job.user is None
    assert job_manager.get_job(job.pk, user=AnonymousUser()) == job


def test_get_job_returns_none_for_a_missing_job(job_manager: JobManager) -> None:
    assert job_manager.get_job(job_id=987654) is None


def test_get_job_is_filtered_by_app_and_user(
    job_manager: JobManager, user: Any, other_user: Any, tmp_path: Path
) -> None:
    job = job_manager.create_job(name="mine", user=user, job_type="BASIC")
    assert job_manager.get_job(job_id=job.pk, user=user) == job
    assert job_manager.get_job(job_id=job.pk, user=other_user) is None
    assert JobManager("another_app", tmp_path).get_job(job.pk) is None
    assert job_manager.get_job(job.pk, filters={"name": "mine"}) == job


def test_require_job_raises_where_get_job_returns_none(job_manager: JobManager) -> None:
    with pytest.raises(JobNotFoundError):
        job_manager.require_job(987654)


def test_list_jobs_filters_by_user_and_returns_each_kind(
    job_manager: JobManager, user: Any, other_user: Any
) -> None:
    mine = job_manager.create_job(name="b", user=user, job_type="BASIC")
    dask = job_manager.create_job(name="d", user=user, job_type="DASK", scheduler=_dask_record())
    job_manager.create_job(name="theirs", user=other_user, job_type="BASIC")
    jobs = list(job_manager.list_jobs(user=user))
    assert jobs == [mine, dask]
    assert isinstance(jobs[1], DaskJob)
    assert len(job_manager.list_jobs()) == 3


def test_get_job_status_callback_url_is_absolute_update_job_status_url(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="cb", user=user, job_type="BASIC")
    request = RequestFactory().get("/")
    url = job_manager.get_job_status_callback_url(request, job.pk)
    assert url == f"http://testserver/compute/update-job-status/{job.pk}/"


def test_update_job_status_url_answers_success_true(job_manager: JobManager, user: Any) -> None:
    job = job_manager.create_job(name="cb", user=user, job_type="BASIC")
    job.execute()
    response = Client().get(f"/compute/update-job-status/{job.pk}/")
    assert response.status_code == 200 and response.json() == {"success": True}


def test_update_job_status_url_for_a_missing_job_answers_success_false() -> None:
    assert Client().get("/compute/update-job-status/987654/").json() == {"success": False}
    assert Client().get("/compute/update-job-status/abc/").json() == {"success": False}


def finished_task_with_stale_status(manager: JobManager, user: Any, scheduler: Any) -> DaskJob:
    """A Dask job whose task has finished but whose row still says Submitted (no push)."""
    job = manager.create_job(name="stale", user=user, job_type="DASK", scheduler=scheduler)
    assert isinstance(job, DaskJob)
    job.callback_key = "gone"
    job.key = f"tethys-job-{job.pk}-gone"
    job.save(update_fields=["callback_key", "key"])
    apply_status(job, JobStatus.SUBMITTED)
    client = scheduler.client
    future = client.submit(operator.add, 20, 22, key=job.key, pure=False)
    client.publish_dataset(future, name=job.key, override=True)
    assert future.result(timeout=20) == 42
    return job


@pytest.mark.dask
@pytest.mark.django_db(transaction=True)
def test_update_job_status_url_makes_the_portal_ask_the_scheduler(
    job_manager: JobManager, user: Any, dask_scheduler: Any
) -> None:
    job = finished_task_with_stale_status(job_manager, user, dask_scheduler)
    response = Client().get(f"/compute/update-job-status/{job.pk}/")
    assert response.json() == {"success": True}
    # The poll saw the finished task, and its result was stored, as in Tethys.
    assert status_of(job) == JobStatus.COMPLETE
    job.refresh_from_db()
    assert job.result == 42


@pytest.mark.dask
@pytest.mark.django_db(transaction=True)
def test_update_job_status_url_with_delay_asks_the_scheduler_later(
    job_manager: JobManager, user: Any, dask_scheduler: Any
) -> None:
    job = finished_task_with_stale_status(job_manager, user, dask_scheduler)
    response = Client().get(f"/compute/update-job-status/{job.pk}/?delay=0.5")
    assert response.json() == {"success": "scheduled"}
    assert status_of(job) == JobStatus.SUBMITTED  # not yet
    wait_for(lambda: status_of(job) != JobStatus.SUBMITTED, what="the delayed poll")


def test_update_job_status_url_refuses_an_unbounded_delay(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="x", user=user, job_type="BASIC")
    for delay in ("100000", "-1", "soon"):
        response = Client().get(f"/compute/update-job-status/{job.pk}/?delay={delay}")
        assert response.json() == {"success": False}


def test_jobs_keep_their_row_type(job_manager: JobManager, user: Any) -> None:
    job = job_manager.create_job(name="k", user=user, job_type="BASIC")
    assert type(Job.objects.get_subclass(pk=job.pk)) is BasicJob


def test_create_job_with_the_tethys_job_class_itself_and_a_group(
    job_manager: JobManager, user: Any
) -> None:
    from tethys_compute.models.tethys_job import TethysJob

    group = Group.objects.create(name="g1")
    job = job_manager.create_job(
        name="test_create_tethys_job", user=user, job_type=TethysJob, groups=group
    )
    assert (job.name, job.user, job.label) == ("test_create_tethys_job", user, "dask_tutorial")
    assert group in job.groups.all()


def test_list_jobs_label_in_filters_replaces_the_apps_label(
    job_manager: JobManager, user: Any, tmp_path: Path
) -> None:
    other = JobManager("another_app", tmp_path).create_job("theirs", user, job_type="BASIC")
    job_manager.create_job(name="mine", user=user, job_type="BASIC")
    assert list(job_manager.list_jobs(filters={"label": "another_app"})) == [other]


@pytest.mark.django_db(transaction=True)
def test_status_url_polls_a_job_at_most_once_per_update_status_interval(
    job_manager: JobManager, user: Any, condor_scheduler: Any
) -> None:
    job = job_manager.create_job(
        name="sleeper",
        user=user,
        job_type="CONDOR",
        scheduler=condor_scheduler,
        attributes={"executable": "/bin/sleep", "arguments": ["30"]},
    )
    job.execute()
    # Submitted a minute ago: Tethys' first poll is due.
    Job.objects.filter(pk=job.pk).update(execute_time=timezone.now() - timedelta(minutes=1))
    url = f"/compute/update-job-status/{job.pk}/"
    assert Client().get(url).json() == {"success": True}
    first = Job.objects.values_list("last_refresh_ok_at", flat=True).get(pk=job.pk)
    assert first is not None  # the scheduler was asked
    assert Client().get(url).json() == {"success": True}
    again = Job.objects.values_list("last_refresh_ok_at", flat=True).get(pk=job.pk)
    assert again == first  # not asked again within 10 seconds
    job.stop()
