"""The admin's Jobs page: constant queries, no remote calls, filters, actions, the job page."""

from __future__ import annotations

import os
import socket
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.db.models import ProtectedError
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.jobs.conftest import wait_for
from tests.jobs.factories import bulk_create_jobs
from tethys_compute.admin.filters import indexed_values
from tethys_compute.admin_jobs import format_age
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, DaskScheduler, Job

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.jobs.urls")]

LIST_URL = "/admin/tethys_compute/job/"


@pytest.fixture
def schedulers() -> tuple[CondorScheduler, DaskScheduler]:
    # Addresses where nothing answers: any remote call would fail the page.
    condor = CondorScheduler.objects.create(
        name="condor-x", host="127.0.0.1", port=9, username="u", password="pw-x"
    )
    dask = DaskScheduler.objects.create(name="dask-x", host="tcp://127.0.0.1:9", timeout=1)
    return condor, dask


#: SQL queries of the Jobs page, however many jobs and rows: the session and its user,
#: the choices of the user, scheduler and label filters (the labels from their index),
#: the count, the page's jobs, and their users and schedulers (prefetched).
LIST_QUERIES = 9


def render_all(client: Client) -> tuple[int, str]:
    """The list with every row ("show all"), counting SQL queries; no network allowed."""
    return render(client, {"all": ""})


def render(client: Client, params: dict[str, str]) -> tuple[int, str]:
    """The list with ``params``, counting SQL queries; no network allowed."""
    with (
        mock.patch.object(socket.socket, "connect", autospec=True) as connect,
        mock.patch.object(socket, "create_connection", autospec=True) as create,
        CaptureQueriesContext(connection) as queries,
    ):
        response = client.get(LIST_URL, params)
    assert response.status_code == 200
    assert not connect.called and not create.called, "rendering the list contacted a host"
    return len(queries), response.content.decode()


def test_list_of_1000_jobs_takes_the_same_queries_as_10_and_no_remote_call(
    admin_client: Client, schedulers: tuple[CondorScheduler, DaskScheduler], admin_user: Any
) -> None:
    condor, dask = schedulers
    bulk_create_jobs(10, label="small", user=admin_user, condor=condor, dask=dask)
    small, html = render_all(admin_client)
    assert html.count('class="action-checkbox"') == 10
    bulk_create_jobs(990, label="big", user=admin_user, condor=condor, dask=dask)
    big, html = render_all(admin_client)
    assert html.count('class="action-checkbox"') == 1000
    assert small == big == LIST_QUERIES, f"{small} queries for 10 jobs, {big} for 1,000"
    for text in ("Condor job", "Dask job", "Basic job", "condor-x", "dask-x", "Running"):
        assert text in html


def test_first_page_takes_the_same_queries_at_10_jobs_and_at_250(
    admin_client: Client, schedulers: tuple[CondorScheduler, DaskScheduler], admin_user: Any
) -> None:
    # The page as it opens: 10 rows of 10 jobs, then the first 100 rows of 250 (3 pages).
    condor, dask = schedulers
    bulk_create_jobs(10, label="small", user=admin_user, condor=condor, dask=dask)
    small, html = render(admin_client, {})
    assert html.count('class="action-checkbox"') == 10
    bulk_create_jobs(240, label="big", user=admin_user, condor=condor, dask=dask)
    with CaptureQueriesContext(connection) as queries:
        big, html = render(admin_client, {})
    assert html.count('class="action-checkbox"') == 100
    assert "250 jobs" in html and "?p=3" in html
    assert small == big == LIST_QUERIES, f"{small} queries for 10 jobs, {big} for 250"
    # No DISTINCT over every job: the label filter reads the labels from their index.
    scans = [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()]
    assert not scans, scans


def test_label_filter_offers_each_label_in_order(
    admin_client: Client, admin_user: Any, user: Any
) -> None:
    bulk_create_jobs(4, label="zeta", user=admin_user)
    bulk_create_jobs(2, label="alpha", user=user)
    bulk_create_jobs(1, label="mid dle", user=user)
    field = Job._meta.get_field("label")
    assert indexed_values(Job, field) == ["alpha", "mid dle", "zeta"]
    html = admin_client.get(LIST_URL).content.decode()
    links = [html.index(f'?label={value}"') for value in ("alpha", "mid+dle", "zeta")]
    assert links == sorted(links)
    chosen = admin_client.get(LIST_URL, {"label": "mid dle"}).content.decode()
    assert chosen.count('class="action-checkbox"') == 1


def test_filters(
    admin_client: Client,
    schedulers: tuple[CondorScheduler, DaskScheduler],
    admin_user: Any,
    user: Any,
) -> None:
    condor, dask = schedulers
    bulk_create_jobs(12, label="app_a", user=admin_user, condor=condor, dask=dask)
    bulk_create_jobs(3, label="app_b", user=user, condor=condor, dask=dask)

    def rows(**params: Any) -> int:
        html = admin_client.get(LIST_URL, params).content.decode()
        return html.count('class="action-checkbox"')

    assert rows() == 15
    assert rows(status_code__exact="RUN") == Job.objects.filter(status_code="RUN").count()
    assert rows(kind="condor") == 5 and rows(kind="dask") == 5 and rows(kind="basic") == 5
    assert rows(label="app_b") == 3
    assert rows(user__id__exact=user.pk) == 3
    assert rows(scheduler__id__exact=dask.pk) == 5


def test_status_age_is_short() -> None:
    from datetime import timedelta

    assert format_age(timedelta(seconds=5)) == "5 s"
    assert format_age(timedelta(minutes=3, seconds=5)) == "3 min"
    assert format_age(None) == "-"


def test_stop_resubmit_actions_and_delete_with_cleanup(
    admin_client: Client, manager: JobManager, user: Any
) -> None:
    running = manager.create_job("r", user, "BASIC")
    running.execute()
    running.set_status("Running")
    done = manager.create_job("d", user, "BASIC")
    done.execute()
    done.set_status("Error")

    def act(action: str, *jobs: Job, **extra: str) -> None:
        response = admin_client.post(
            LIST_URL, {"action": action, "_selected_action": [j.pk for j in jobs], **extra}
        )
        assert response.status_code == 302

    act("stop_jobs", running)
    assert Job.objects.get(pk=running.pk).status_code == JobStatus.ABORTED
    act("resubmit_jobs", running, done, post="yes")  # confirmed (see test_resubmit_refusals)
    assert set(Job.objects.values_list("status_code", flat=True)) == {JobStatus.SUBMITTED}
    act("refresh_now", running)
    act("delete_with_cleanup", done, post="yes")  # confirmed (see the confirmation test)
    assert not Job.objects.filter(pk=done.pk).exists()
    html = admin_client.get(LIST_URL).content.decode()
    assert "delete_selected" not in html  # the bulk delete without clean-up is gone


@pytest.mark.sshd
def test_job_page_shows_cached_logs_and_fetches_on_request(
    admin_client: Client, manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = manager.create_job(
        "echo",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={
            "executable": "/bin/echo",
            "arguments": ["page", "logs"],
            "output": "o",
        },
    )
    job.execute()
    wait_for(lambda: refresh_jobs() and Job.objects.get(pk=job.pk).is_finished, step=0.2)
    page = f"{LIST_URL}{job.pk}/change/"
    with mock.patch.object(socket.socket, "connect", autospec=True) as connect:
        html = admin_client.get(page).content.decode()
    assert not connect.called
    assert "Not fetched yet" in html and "Fetch logs now" in html
    response = admin_client.post(f"{LIST_URL}{job.pk}/run/fetch-logs/")
    assert response.status_code == 302
    html = admin_client.get(page).content.decode()
    assert "page logs" in html
    remote_dir = Job.objects.get_subclass(pk=job.pk).remote_dir
    assert os.path.isdir(remote_dir)
    # Deleting from the job page removes the remote files too.
    response = admin_client.post(f"{LIST_URL}{job.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not os.path.exists(remote_dir)


def test_scheduler_with_active_jobs_cannot_be_deleted_finished_jobs_keep_history(
    admin_client: Client, schedulers: tuple[CondorScheduler, DaskScheduler], user: Any
) -> None:
    _condor, dask = schedulers
    active, finished = (
        Job.objects.create(label="a", name=n, user=user, scheduler=dask, status_code=s)
        for n, s in (("active", JobStatus.RUNNING), ("finished", JobStatus.COMPLETE))
    )
    with pytest.raises(ProtectedError) as refused:
        dask.delete()
    assert active in refused.value.protected_objects
    html = admin_client.get(f"/admin/tethys_compute/daskscheduler/{dask.pk}/delete/").content
    assert b"active" in html and b"protected" in html
    active.stop()
    DaskScheduler.objects.get(pk=dask.pk).delete()
    kept = Job.objects.get(pk=finished.pk)
    assert kept.scheduler_id is None and kept.scheduler_name == "dask-x"
    assert Job.objects.get(pk=active.pk).status_code == JobStatus.ABORTED


def test_every_kind_has_a_job_page(
    admin_client: Client,
    schedulers: tuple[CondorScheduler, DaskScheduler],
    manager: JobManager,
    user: Any,
) -> None:
    condor, dask = schedulers
    ids = bulk_create_jobs(3, label="kinds", user=user, condor=condor, dask=dask)
    workflow = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=condor)
    workflow.add_node("only", {"executable": "/bin/true"})  # type: ignore[attr-defined]
    with mock.patch.object(socket.socket, "connect", autospec=True) as connect:
        for pk in [*ids, workflow.pk]:
            response = admin_client.get(f"{LIST_URL}{pk}/change/")
            assert response.status_code == 200, pk
        html = response.content.decode()
    assert not connect.called
    assert "only" in html and "Condor workflow" in html
    assert admin_client.get(f"{LIST_URL}{ids[0]}/run/stop/").status_code == 403  # POST only


def test_view_only_staff_cannot_trigger_remote_actions(
    client: Client,
    schedulers: tuple[CondorScheduler, DaskScheduler],
    manager: JobManager,
    user: Any,
) -> None:
    """Refresh, Fetch logs and cluster refresh run remote commands: change permission only."""
    from django.contrib import admin
    from django.contrib.auth.models import Permission, User
    from django.test import RequestFactory

    from tethys_compute.models import Cluster, CondorJob

    condor, _dask = schedulers
    job = manager.create_job("remote", user, "CONDOR", scheduler=condor)
    CondorJob.objects.filter(pk=job.pk).update(status_code=JobStatus.RUNNING, cluster_id=7)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    for codename in ("view_job", "view_cluster"):
        viewer.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(viewer)
    with (
        mock.patch.object(socket.socket, "connect", autospec=True) as connect,
        mock.patch.object(socket, "create_connection", autospec=True) as create,
    ):
        page = client.get(f"{LIST_URL}{job.pk}/change/")
        assert page.status_code == 200  # may look, without the buttons
        assert "/run/fetch-logs/" not in page.content.decode()
        for action in ("fetch-logs", "refresh"):
            assert client.post(f"{LIST_URL}{job.pk}/run/{action}/").status_code == 403
        listing = client.post(LIST_URL, {"action": "refresh_now", "_selected_action": [job.pk]})
        assert listing.status_code == 200  # Django: "No action selected", nothing run
    assert not connect.called and not create.called
    stored = Job.objects.get(pk=job.pk)
    assert stored.refresh_error == "" and stored.last_refresh_ok_at is None
    request = RequestFactory().get("/admin/")
    request.user = viewer
    job_actions = admin.site._registry[Job].get_actions(request)
    cluster_actions = admin.site._registry[Cluster].get_actions(request)
    assert "refresh_now" not in job_actions
    assert "refresh_clusters" not in cluster_actions
    viewer.user_permissions.add(Permission.objects.get(codename="change_cluster"))
    viewer = User.objects.get(pk=viewer.pk)  # drop the permission cache
    request.user = viewer
    assert "refresh_clusters" in admin.site._registry[Cluster].get_actions(request)
