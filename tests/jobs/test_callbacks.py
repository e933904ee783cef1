"""Pushes to the signed callback URL: valid, forged, expired, replayed, stale; racing a poll."""

from __future__ import annotations

import logging
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
    assert post(path, seq=2, status="running").json()["status"] == "RUN"
    again = post(path, seq=3, status="running", message="still at it")  # no news
    assert again.status_code == 200 and again.json() == {"applied": False, "status": "RUN"}
    assert status_of(pushed_job) == JobStatus.RUNNING
    pushed_job.refresh_from_db()
    assert pushed_job.callback_seqs["seq"] == {"": 3}
    assert pushed_job.status_message == "still at it"


def test_a_finished_job_refuses_every_report(pushed_job: Job) -> None:
    """A token is worth nothing once its job is final: no late status or message."""
    path = path_of(pushed_job)
    assert post(path, seq=2, status="exited", exit_code=0).json()["status"] == "COM"
    pushed_job.refresh_from_db()
    message = pushed_job.status_message
    for report in (
        {"seq": 3, "status": "running"},
        {"seq": 4, "status": "COM", "message": "rewritten by a token holder"},
        {"seq": 5, "status": "exited", "exit_code": 1},
    ):
        answer = post(path, **report)
        assert answer.status_code == 410 and "finished" in answer.json()["error"]
    pushed_job.refresh_from_db()
    assert pushed_job.status == "Complete" and pushed_job.status_message == message
    assert pushed_job.callback_seqs["seq"] == {"": 2}


def test_seq_is_bounded_so_nobody_locks_the_reporter_out(pushed_job: Job) -> None:
    path = path_of(pushed_job)
    for seq in ("9" * 4300, str(10 * (int(time.time()) + 2 * 86400)), "1e9", "-5", "0x10"):
        answer = post(path, seq=seq, status="running")
        assert answer.status_code == 400 and "seq" in answer.json()["error"]
        assert len(answer.content) < 300
    # The real reporter (clock-numbered, as the wrapper does) still gets through.
    assert post(path, seq=10 * int(time.time()) + 1, status="running").status_code == 200


def test_too_many_sources_are_refused(pushed_job: Job) -> None:
    path = path_of(pushed_job)
    accepted = [post(path, seq=1, status="running", source=f"s{n}") for n in range(40)]
    codes = [a.status_code for a in accepted]
    assert codes.count(200) == 9  # one job: its own source and 8 more
    assert all(code == 400 for code in codes[9:])
    pushed_job.refresh_from_db()
    assert len(pushed_job.callback_seqs["seq"]) == 9


def test_deeply_nested_json_is_a_400_not_a_500(pushed_job: Job) -> None:
    body = "[" * 100_000 + "]" * 100_000
    client = Client(raise_request_exception=False)
    for payload in (body, '{"seq": 1, "status": ' + "[" * 50_000 + "]" * 50_000 + "}"):
        answer = client.post(path_of(pushed_job), payload, content_type="application/json")
        assert answer.status_code == 400
    big = '{"seq": 1, "status": "running", "message": "' + "x" * 20_000 + '"}'
    answer = client.post(path_of(pushed_job), big, content_type="application/json")
    assert answer.status_code == 400 and "bytes" in answer.json()["error"]
    assert status_of(pushed_job) == JobStatus.SUBMITTED


def test_refused_reports_never_log_the_token(
    pushed_job: Job, caplog: pytest.LogCaptureFixture
) -> None:
    path = path_of(pushed_job)
    token = path.rstrip("/").rsplit("/", 1)[1]
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="tethys_compute")
    answers = [
        post(path, seq=2, status="running").status_code,  # 200
        post(path, seq=2, status="running").status_code,  # 409 replay
        post(path, status="running").status_code,  # 400 no seq
        Client().get(path).status_code,  # 405
        post(path, seq=3, status="exited", exit_code=0).status_code,  # 200, now final
        post(path, seq=4, status="running").status_code,  # 410
        post(path.replace(":", ":x", 1), seq=5, status="running").status_code,  # 403
    ]
    assert answers == [200, 409, 400, 405, 200, 410, 403]
    assert caplog.records, "the refusals are logged"
    for record in caplog.records:
        assert token not in record.getMessage(), record.name
        assert token.split(":")[0] not in record.getMessage(), record.name
    assert not [r for r in caplog.records if r.name == "django.request"]


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
