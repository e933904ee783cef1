"""The admin's job actions and page: confirmations, honest messages, live logs."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db.models import ProtectedError
from django.test import Client

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.exceptions import SchedulerInUseError
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, DaskScheduler, Job, Scheduler

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.jobs.urls")]

LIST_URL = "/admin/tethys_compute/job/"


def texts(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def basic(manager: JobManager, user: Any, name: str, status: str) -> Job:
    job = manager.create_job(name, user, "BASIC")
    job.execute()
    job.set_status(status)
    return job


def test_stop_reports_finished_jobs_as_skipped(
    admin_client: Client, manager: JobManager, user: Any
) -> None:
    done = basic(manager, user, "done", "Complete")
    running = basic(manager, user, "running", "Running")
    response = admin_client.post(
        LIST_URL,
        {"action": "stop_jobs", "_selected_action": [done.pk, running.pk]},
        follow=True,
    )
    said = texts(response)
    assert "Stopped 1 job(s)." in said
    assert f"Skipped 1 job(s) that had already finished: {done.pk} (Complete)." in said
    assert status_of(running) == JobStatus.ABORTED and status_of(done) == JobStatus.COMPLETE


def test_delete_with_cleanup_asks_first(
    admin_client: Client, manager: JobManager, user: Any
) -> None:
    jobs = [basic(manager, user, f"old-{i}", "Complete") for i in range(2)]
    selected = {"action": "delete_with_cleanup", "_selected_action": [j.pk for j in jobs]}
    response = admin_client.post(LIST_URL, selected)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Are you sure you want to delete 2 job(s)?" in html
    assert "old-0" in html and "old-1" in html and 'name="post" value="yes"' in html
    assert Job.objects.filter(pk__in=[j.pk for j in jobs]).count() == 2  # nothing deleted yet
    response = admin_client.post(LIST_URL, {**selected, "post": "yes"}, follow=True)
    assert "Deleted 2 job(s)." in texts(response)
    assert not Job.objects.filter(pk__in=[j.pk for j in jobs]).exists()


def test_job_page_is_read_only_and_shows_workflow_nodes_only_for_workflows(
    admin_client: Client, manager: JobManager, user: Any
) -> None:
    condor = CondorScheduler.objects.create(
        name="condor-x", host="127.0.0.1", port=9, username="u", password="pw-x"
    )
    job = basic(manager, user, "plain", "Running")
    html = admin_client.get(f"{LIST_URL}{job.pk}/change/").content.decode()
    assert "| Job |" in html and "<h1>Job</h1>" in html
    assert "Change job" not in html and "View job" not in html
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert "Workflow nodes" not in html
    workflow = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=condor)
    workflow.add_node("only", {"executable": "/bin/true"})  # type: ignore[attr-defined]
    html = admin_client.get(f"{LIST_URL}{workflow.pk}/change/").content.decode()
    assert "Workflow nodes" in html and "only" in html and 'name="_save"' not in html


@pytest.mark.sshd
def test_fetch_logs_of_a_running_job_shows_them_on_the_page(
    admin_client: Client, manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = manager.create_job(
        "talker",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={
            "executable": "/bin/sh",
            "arguments": ["-c", "echo live-line; sleep 30"],
            "output": "out.txt",
        },
    )
    job.execute()
    wait_for(lambda: refresh_jobs() and status_of(job) == JobStatus.RUNNING, step=0.2)
    page = f"{LIST_URL}{job.pk}/change/"
    assert "Logs of a running job are not stored" in admin_client.get(page).content.decode()

    def shown() -> bool:
        response = admin_client.post(f"{LIST_URL}{job.pk}/run/fetch-logs/", follow=True)
        html = response.content.decode()
        assert "Logs fetched from the running job and shown below" in html
        return "<pre>live-line" in html  # in the logs (the arguments show it too)

    wait_for(shown, step=0.3, what="the output on the page")
    assert Job.objects.get(pk=job.pk).logs is None  # not stored while running
    assert "<pre>live-line" not in admin_client.get(page).content.decode()  # shown once
    job.stop()


def test_deleting_a_scheduler_with_active_jobs_says_which_and_what_to_do(
    admin_client: Client, user: Any
) -> None:
    condor = CondorScheduler.objects.create(
        name="condor-x", host="127.0.0.1", port=9, username="u", password="pw-x"
    )
    dask = DaskScheduler.objects.create(name="dask-x", host="tcp://127.0.0.1:9", timeout=1)
    busy = Job.objects.create(
        label="a", name="busy one", user=user, scheduler=condor, status_code=JobStatus.RUNNING
    )
    Job.objects.create(label="a", name="old", user=user, scheduler=dask, status_code="COM")
    attempts = [
        condor.delete,
        CondorScheduler.objects.filter(pk=condor.pk).delete,
        Scheduler.objects.filter(pk=condor.pk).delete,
        Scheduler.objects.all().delete,
    ]
    for attempt in attempts:
        with pytest.raises(SchedulerInUseError) as refused:
            attempt()
        error = refused.value
        assert isinstance(error, ProtectedError) and busy in error.protected_objects
        text = str(error)
        assert "'condor-x'" in text and f"{busy.pk} ('busy one')" in text
        assert "Stop them (`manage.py jobs stop ID...`" in text
        assert "`manage.py schedulers remove NAME --stop-jobs`" in text
        assert "scheduler_ptr" not in text
    assert Scheduler.objects.count() == 2  # nothing was deleted
    html = admin_client.get(f"/admin/tethys_compute/condorscheduler/{condor.pk}/delete/")
    assert b"busy one" in html.content and b"protected" in html.content
    dask.delete()  # only finished jobs: allowed
    assert Job.objects.get(name="old").scheduler_name == "dask-x"


def test_a_complete_dask_job_page_shows_its_stored_result_shortened_and_escaped(
    admin_client: Client, manager: JobManager, user: Any
) -> None:
    from tethys_compute.models import DaskJob

    scheduler = DaskScheduler.objects.create(name="dask-x", host="tcp://127.0.0.1:9")
    kept = manager.create_job("kept", user, "DASK", scheduler=scheduler, function="operator.add")
    forgot = manager.create_job(
        "forgot", user, "DASK", scheduler=scheduler, function="operator.add", forget=True
    )
    value = {"html": "<script>alert(1)</script>", "numbers": list(range(1000))}
    DaskJob.objects.filter(pk=kept.pk).update(result=value, status_code=JobStatus.COMPLETE)
    DaskJob.objects.filter(pk=forgot.pk).update(status_code=JobStatus.COMPLETE)
    html = admin_client.get(f"{LIST_URL}{kept.pk}/change/").content.decode()
    assert "stored result: " in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "0, 1, 2" in html and "998, 999" not in html and ", ...]" in html  # shortened
    html = admin_client.get(f"{LIST_URL}{forgot.pk}/change/").content.decode()
    assert "stored result: none (forget=True)" in html
