"""Remote calls counted where they are sent (the SSH session, the Dask call layer).

These tests read :data:`tethys_compute.counters.remote_calls`, which the SSH
session and the Dask call layer update for every command, file operation and
connection; they never trust a figure the refresh reports about itself.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.fixtures.sshd import SSHD
from tests.jobs.factories import bulk_create_jobs
from tests.test_condor_e2e import make_scheduler
from tethys_compute.counters import remote_calls
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.models import CondorScheduler, Job

pytestmark = [pytest.mark.sshd, pytest.mark.django_db, pytest.mark.urls("tests.jobs.urls")]


def _target(scheduler: CondorScheduler) -> str:
    return f"{scheduler.username}@{scheduler.host}:{scheduler.port}"


def test_the_counter_sees_each_command_on_an_open_session(
    condor_scheduler: CondorScheduler,
) -> None:
    host = condor_scheduler.get_remote_host()
    host.run(["true"])  # the connection and its session are open before counting
    with remote_calls.measure() as seen:
        for _ in range(3):
            host.run(["true"])
    assert seen.commands("ssh", _target(condor_scheduler)) == 3
    assert seen.connections() == 0


def test_refresh_of_450_condor_jobs_on_two_schedulers_sends_exactly_two_commands(
    user: Any, condor_server: SSHD
) -> None:
    first = make_scheduler(condor_server, "condor-a")
    second = make_scheduler(condor_server, "condor-b")
    bulk_create_jobs(225, label="a", user=user, condor=first, cluster_ids=range(91000, 91225))
    bulk_create_jobs(225, label="b", user=user, condor=second, cluster_ids=range(92000, 92225))
    assert Job.objects.active().count() == 450
    with remote_calls.measure() as seen:
        report = refresh_jobs(timeout=30)
    assert not report.failed, report.summary()
    assert seen.commands("ssh") == 2, seen.counts
    assert seen.transfers("ssh") == 0, seen.counts
    # The report's figure is the counted one, per scheduler.
    assert sorted((s.name, s.jobs, s.round_trips) for s in report.schedulers) == [
        ("condor-a", 225, 1),
        ("condor-b", 225, 1),
    ]
    # None of these clusters is queued: spare the teardown 450 condor_rm runs.
    Job.objects.all().delete()


def test_a_scheduler_with_more_jobs_than_a_chunk_is_asked_one_chunk_at_a_time(
    user: Any, condor_server: SSHD, settings: Any
) -> None:
    settings.TETHYS_COMPUTE = {**getattr(settings, "TETHYS_COMPUTE", {}), "JOB_REFRESH_CHUNK": 40}
    first = make_scheduler(condor_server, "condor-a")
    second = make_scheduler(condor_server, "condor-b")
    bulk_create_jobs(100, label="a", user=user, condor=first, cluster_ids=range(95000, 95100))
    bulk_create_jobs(30, label="b", user=user, condor=second, cluster_ids=range(96000, 96030))
    with remote_calls.measure() as seen, CaptureQueriesContext(connection) as queries:
        report = refresh_jobs(timeout=30)
    assert not report.failed, report.summary()
    # 100 jobs in chunks of 40: three commands; 30 jobs: one.
    assert seen.commands("ssh") == 4, seen.counts
    assert sorted((s.name, s.jobs, s.round_trips) for s in report.schedulers) == [
        ("condor-a", 100, 3),
        ("condor-b", 30, 1),
    ]
    # Every job was asked about (HTCondor knows none of these clusters: each says so).
    assert not Job.objects.filter(refresh_error="").exists()
    # Jobs are read one chunk at a time (never all at once).
    reads = [q["sql"] for q in queries.captured_queries if "LIMIT 40" in q["sql"]]
    assert len(reads) == 4, reads
    Job.objects.all().delete()


def test_listing_and_rendering_1000_jobs_sends_no_command_and_opens_no_connection(
    admin_client: Client, admin_user: Any, condor_scheduler: CondorScheduler, tmp_path: Any
) -> None:
    bulk_create_jobs(
        1000,
        label="listed",
        user=admin_user,
        condor=condor_scheduler,
        cluster_ids=range(93000, 94000),
    )
    # An SSH session to the jobs' scheduler is open and warm: a command sent
    # over it would need no new connection, so only the command counter can
    # tell whether reading statuses talks to the scheduler.
    condor_scheduler.get_remote_host().run(["true"])
    manager = JobManager("listed", tmp_path)
    with remote_calls.measure() as seen:
        jobs = list(manager.list_jobs())
        statuses = [job.status for job in jobs]
        for job in Job.objects.filter(label="listed").select_subclasses():
            assert job.status == "Submitted"
        response = admin_client.get("/admin/tethys_compute/job/", {"all": ""})
    assert response.status_code == 200
    assert len(jobs) == 1000 and set(statuses) == {"Submitted"}
    assert response.content.decode().count('class="action-checkbox"') == 1000
    assert seen.commands() == 0, seen.counts
    assert seen.transfers() == 0, seen.counts
    assert seen.connections() == 0, seen.counts
    # The same measurement does see a refresh of these jobs: it can fail.
    with remote_calls.measure() as refreshed:
        refresh_jobs(timeout=30)
    assert refreshed.commands("ssh", _target(condor_scheduler)) == 1
    Job.objects.all().delete()
