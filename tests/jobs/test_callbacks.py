"""Pushes to the signed callback URL: valid, forged, expired, replayed, stale; racing a poll."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.core import signing
from django.db import connection
from django.test import Client, override_settings

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.exceptions import ConfigurationError
from tethys_compute.jobs.callbacks import SALT, make_token, verify_token
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, Job

pytestmark = pytest.mark.urls("tests.jobs.urls")

BASE = "http://portal.example.org"


@pytest.fixture
def pushed_job(db: None, tmp_path: Path, user: Any) -> Job:
    manager = JobManager("test_app", tmp_path, callback_base_url=BASE)
    job = manager.create_job("basic", user, "BASIC")
    job.execute()
    return job


def path_of(job: Job) -> str:
    url = job.get_callback_url()
    assert url is not None and url.startswith(BASE + "/compute/jobs/callback/")
    return url[len(BASE) :]


def post(path: str, **data: Any) -> Any:
    return Client().post(path, data)


def test_valid_pushes_move_the_job(pushed_job: Job) -> None:
    path = path_of(pushed_job)
    answer = post(path, seq=1, status="running")
    assert answer.status_code == 200 and answer.json() == {"applied": True, "status": "RUN"}
    assert status_of(pushed_job) == JobStatus.RUNNING
    answer = post(path, seq=2, status="exited", exit_code=0)
    assert answer.json() == {"applied": True, "status": "COM"}
    pushed_job.refresh_from_db()
    assert pushed_job.status == "Complete" and pushed_job.completion_time is not None


def test_json_body_and_nonzero_exit(pushed_job: Job) -> None:
    answer = Client().post(
        path_of(pushed_job),
        {"seq": 5, "status": "exited", "exit_code": 7},
        content_type="application/json",
    )
    assert answer.json()["status"] == "ERR"
    pushed_job.refresh_from_db()
    assert "7" in pushed_job.status_message


def test_forged_token_is_refused(pushed_job: Job) -> None:
    forged = signing.dumps(
        {"j": pushed_job.pk, "k": pushed_job.callback_key}, key="not-the-key", salt=SALT
    )
    answer = post(f"/compute/jobs/callback/{forged}/", seq=1, status="COM")
    assert answer.status_code == 403
    tampered = path_of(pushed_job).replace(":", ":x", 1)
    assert post(tampered, seq=1, status="COM").status_code == 403
    other_salt = signing.dumps({"j": pushed_job.pk, "k": pushed_job.callback_key}, salt="other")
    assert post(f"/compute/jobs/callback/{other_salt}/", seq=1, status="COM").status_code == 403
    assert status_of(pushed_job) == JobStatus.SUBMITTED


def test_expired_token_is_refused(pushed_job: Job) -> None:
    path = path_of(pushed_job)
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert verify_token(token) == (pushed_job.pk, pushed_job.callback_key)
    time.sleep(1.1)
    with override_settings(TETHYS_COMPUTE={"JOB_CALLBACK_MAX_AGE": 1}):
        answer = post(path, seq=1, status="running")
    assert answer.status_code == 403 and "expired" in answer.json()["error"]
    assert status_of(pushed_job) == JobStatus.SUBMITTED


def test_replayed_report_is_refused(pushed_job: Job) -> None:
    path = path_of(pushed_job)
    assert post(path, seq=3, status="running").status_code == 200
    replay = post(path, seq=3, status="running")
    assert replay.status_code == 409
    assert replay.json()["error"].startswith(f"Job {pushed_job.pk} ('basic'): report 3 of ")
    assert post(path, seq=2, status="exited", exit_code=0).status_code == 409  # older seq
    assert status_of(pushed_job) == JobStatus.RUNNING


def test_url_of_an_earlier_run_is_refused(pushed_job: Job) -> None:
    old = path_of(pushed_job)
    pushed_job.stop()
    pushed_job.resubmit()
    assert post(old, seq=1, status="running").status_code == 403
    assert post(path_of(pushed_job), seq=1, status="running").status_code == 200


def test_malformed_reports_and_methods(pushed_job: Job) -> None:
    path = path_of(pushed_job)
    assert Client().get(path).status_code == 405
    assert post(path, status="running").status_code == 400  # no seq
    assert post(path, seq=1, status="sleeping").status_code == 400
    assert post(path, seq=1, status="exited").status_code == 400  # no exit code
    assert post(path, seq=1, status="running", source="../x").status_code == 400


def test_older_news_is_recorded_but_not_applied(pushed_job: Job) -> None:
    path = path_of(pushed_job)
    assert post(path, seq=2, status="exited", exit_code=0).json()["status"] == "COM"
    late = post(path, seq=3, status="running")  # delivered late: the job already finished
    assert late.status_code == 200 and late.json() == {"applied": False, "status": "COM"}
    assert status_of(pushed_job) == JobStatus.COMPLETE


def test_push_before_execute_returned_counts_as_submitted(
    db: None, tmp_path: Path, user: Any
) -> None:
    job = JobManager("test_app", tmp_path, callback_base_url=BASE).create_job("b", user, "BASIC")
    Job.objects.filter(pk=job.pk).update(callback_key="k" * 20)
    job.refresh_from_db()
    assert post(path_of(job), seq=1, status="running").json() == {"applied": True, "status": "RUN"}


def test_callback_url_needs_the_portal_urls(pushed_job: Job) -> None:
    with override_settings(ROOT_URLCONF="tests.urls"):
        with pytest.raises(ConfigurationError, match="tethys_compute.urls"):
            pushed_job.get_callback_url()
    token = make_token(pushed_job)
    assert verify_token(token)[0] == pushed_job.pk


def poll_after(start: threading.Barrier, job: Job, reports: list[Any]) -> None:
    try:
        Job.objects.filter(pk=job.pk).exists()  # this thread's connection is open before the race
        start.wait(timeout=10)
        reports.append(refresh_jobs(Job.objects.filter(pk=job.pk)))
    finally:
        connection.close()


@pytest.mark.sshd
@pytest.mark.django_db(transaction=True)
def test_refresh_racing_a_push_never_goes_backwards(
    condor_scheduler: CondorScheduler, tmp_path: Path, user: Any
) -> None:
    """A poll that saw 'running' must not undo the 'complete' pushed during its round trip."""
    manager = JobManager("test_app", tmp_path, callback_base_url=BASE)
    jobs = []
    for index in range(3):
        job = manager.create_job(
            f"racer-{index}",
            user,
            "CONDOR",
            scheduler=condor_scheduler,
            submit_description="executable = /bin/sleep\narguments = 30\n",  # text: not wrapped
        )
        job.execute()
        jobs.append(job)
    wait_for(
        lambda: refresh_jobs() and all(status_of(j) == JobStatus.RUNNING for j in jobs),
        step=0.2,
        what="all running",
    )
    raced = 0
    for job in jobs:
        start = threading.Barrier(2)
        reports: list[Any] = []

        thread = threading.Thread(target=poll_after, args=(start, job, reports))
        thread.start()
        start.wait(timeout=10)
        time.sleep(0.03)  # the poll has read the version and is waiting on HTCondor
        answer = post(path_of(job), seq=1, status="exited", exit_code=0)
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert answer.json()["status"] == "COM"
        # HTCondor still says "running" (the sleep goes on); the push is newer and stays.
        assert status_of(job) == JobStatus.COMPLETE
        assert reports[0].changed == 0
        # The poll had read the job as active before the push landed (a true race).
        raced += sum(s.jobs for s in reports[0].schedulers)
        refresh_jobs()
        assert status_of(job) == JobStatus.COMPLETE
    assert raced >= 1
