"""Pinned SQL query and remote call counts of creating and executing one job.

The counts are taken with Django's ``CaptureQueriesContext`` (every statement
sent to the database) and :data:`tethys_compute.counters.remote_calls` (every
call sent to a scheduler), so they cannot grow unnoticed.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tethys_compute.counters import remote_calls
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, DaskScheduler, Job

pytestmark = [pytest.mark.django_db(transaction=True)]

_TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL statements run, without transaction control."""
    return [
        q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith(_TRANSACTION)
    ]


def transactions(captured: CaptureQueriesContext) -> int:
    return sum(1 for q in captured.captured_queries if q["sql"].upper().startswith("BEGIN"))


@pytest.mark.dask
def test_create_and_execute_of_a_dask_job_is_six_queries_and_two_scheduler_calls(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    from tests.jobs.test_dask_finish import push_thread_held

    scheduler = DaskScheduler.objects.get(pk=dask_scheduler.pk)
    scheduler.get_client()  # connected before counting
    # The push thread waits meanwhile: a task this quick could otherwise be recorded
    # finished before execute() records Submitted (a race execute() handles, at the
    # cost of reading the row again).
    with push_thread_held():
        with (
            CaptureQueriesContext(connection) as captured,
            remote_calls.measure_thread() as seen,
        ):
            job = manager.create_job(
                "add", user, "DASK", scheduler=scheduler, function="operator.add", args=[1, 2]
            )
            job.execute()
        sql = statements(captured)
        assert len(sql) == 6, sql
        # Two inserts (job and Dask job rows), then only updates: nothing read back.
        assert [s.split()[0] for s in sql] == ["INSERT", "INSERT"] + ["UPDATE"] * 4, sql
        # No update writes every column: the app changed nothing after create_job.
        assert not any('"label"' in s for s in sql[2:]), sql
        assert transactions(captured) <= 1
        # Submit and publish of the result, counted where they are sent.
        assert seen.commands("dask") == 2, seen.counts
        assert job.status_code == JobStatus.SUBMITTED
        row = Job.objects.values_list("status_code", "status_version").get(pk=job.pk)
        assert row[1] == job.status_version == 1
    assert job.fetch_result(timeout=30) == 3


@pytest.mark.dask
def test_execute_saves_only_the_fields_the_app_changed(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    job = manager.create_job(
        "add", user, "DASK", scheduler=dask_scheduler, function="operator.add", args=[1, 2]
    )
    job.description = "a sweep member"
    job.args.append(3)  # a JSON value changed in place counts as changed too
    job.args = job.args[:2]
    job.args[1] = 5
    with CaptureQueriesContext(connection) as captured:
        job.execute()
    saves = [s for s in statements(captured) if '"description"' in s or '"args"' in s]
    assert len(saves) == 2, saves  # the job row and the Dask job row, each with one column
    assert all('"label"' not in s and '"function"' not in s for s in saves), saves
    stored = Job.objects.get_subclass(pk=job.pk)
    assert stored.description == "a sweep member"
    assert stored.args == [1, 5]
    assert job.fetch_result(timeout=30) == 6


@pytest.mark.dask
def test_execute_of_an_out_of_date_object_reads_the_row_and_refuses(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    from tethys_compute.exceptions import InvalidStatusTransition

    job = manager.create_job(
        "add", user, "DASK", scheduler=dask_scheduler, function="operator.add", args=[1, 2]
    )
    other = Job.objects.get_subclass(pk=job.pk)
    other.execute()
    with pytest.raises(InvalidStatusTransition, match="not Pending"):
        job.execute()
    # The object now has the row's status: past Pending (the task may already run or be done).
    assert job.status_code in (JobStatus.SUBMITTED, JobStatus.RUNNING) or job.is_finished
    assert other.fetch_result(timeout=30) == 3


@pytest.mark.sshd
def test_create_and_execute_of_a_condor_job_is_six_queries_and_one_remote_command(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    scheduler = CondorScheduler.objects.get(pk=condor_scheduler.pk)
    scheduler.get_remote_host().run(["true"])  # the session is open before counting
    with CaptureQueriesContext(connection) as captured, remote_calls.measure_thread() as seen:
        job = manager.create_job(
            "echo",
            user,
            "CONDOR",
            scheduler=scheduler,
            submit_description={"executable": "/bin/echo", "arguments": ["hi"]},
        )
        job.execute()
    sql = statements(captured)
    assert len(sql) == 6, sql
    assert [s.split()[0] for s in sql] == ["INSERT", "INSERT"] + ["UPDATE"] * 4, sql
    assert transactions(captured) <= 1
    # The directory, the description (sent as stdin) and condor_submit: one command.
    assert seen.commands("ssh") == 1, seen.counts
    assert seen.transfers("ssh") == 0, seen.counts
    assert job.cluster_id is not None
    assert Job.objects.get_subclass(pk=job.pk).cluster_id == job.cluster_id


@pytest.mark.sshd
def test_a_failed_one_command_submission_leaves_no_directory_and_says_why(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    from tethys_compute.exceptions import TethysComputeError

    host = condor_scheduler.get_remote_host()
    before = set(
        host.run_shell('ls -d "${TMPDIR:-/tmp}"/tethys-condor-* 2>/dev/null').stdout.split()
    )
    job = manager.create_job(
        "bad",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description="executable = /bin/echo\nqueue 2 in (a b\n",
    )
    with remote_calls.measure() as seen, pytest.raises(TethysComputeError) as raised:
        job.execute()
    assert "condor_submit" in str(raised.value)
    assert seen.commands("ssh") == 1, seen.counts
    after = set(
        host.run_shell('ls -d "${TMPDIR:-/tmp}"/tethys-condor-* 2>/dev/null').stdout.split()
    )
    assert after == before
    assert Job.objects.get(pk=job.pk).status_code == JobStatus.ERROR
