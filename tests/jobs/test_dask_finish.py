"""Finished Dask tasks of a batch are recorded together, on real Dask processes.

The push thread is held (a task of its own waits on an event) while the
batch's tasks finish, so every report is queued when the recording starts;
the recording is then run here, in the test's thread, where queries
(``CaptureQueriesContext``) and scheduler calls (the counter) are counted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from tests.jobs.conftest import wait_for
from tests.jobs.test_batch import _forget, _sweep
from tests.jobs.test_query_counts import statements
from tethys_compute.counters import remote_calls
from tethys_compute.jobs import dask_finish, dask_reports
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, DaskScheduler, Job

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]


@contextlib.contextmanager
def push_thread_held() -> Iterator[None]:
    """The push thread waits (at most 120 s) until the block ends."""
    gate = threading.Event()
    held = dask_reports._push_executor.submit(gate.wait, 120)
    try:
        yield
    finally:
        gate.set()
        held.result(timeout=10)
        assert dask_reports.drain_pushes(timeout=60)


def _queued_reports(count: int) -> list[dask_finish.Report]:
    """Wait until ``count`` reports are queued (their tasks done), then take them."""
    wait_for(
        lambda: len(dask_reports._queued) >= count, timeout=120, what=f"{count} done callbacks"
    )
    reports = dask_reports._take_queued()
    assert len(reports) == count
    return reports


def _record_together(
    manager: JobManager, user: Any, scheduler: DaskScheduler, n: int
) -> tuple[list[Any], list[str], int, list[dask_finish.Report]]:
    jobs = _sweep(manager, user, scheduler, n)
    with push_thread_held():
        manager.execute_all(jobs)
        reports = _queued_reports(n)
        with CaptureQueriesContext(connection) as seen, remote_calls.measure_thread() as calls:
            left = dask_finish.finish_many(reports)
    return jobs, statements(seen), calls.commands("dask"), left


def test_a_batch_of_finished_tasks_is_recorded_in_as_many_queries_and_calls_as_a_few(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    dask_scheduler.get_client()
    small = _record_together(manager, user, dask_scheduler, 5)
    # 200 tasks: their 800 transitions fit in the scheduler's log of 1,000 (the times).
    big = _record_together(manager, user, dask_scheduler, 200)
    try:
        assert small[3] == big[3] == []
        # One read of the rows, one update of the jobs' statuses, one of their results.
        assert [s.split()[0] for s in big[1]] == ["SELECT", "UPDATE", "UPDATE"], big[1]
        assert len(small[1]) == len(big[1])
        # One run_on_scheduler for the task times, one gather for the values.
        assert small[2] == big[2] == 2
        jobs = big[0]
        rows = {j.pk: j for j in DaskJob.objects.filter(pk__in=[j.pk for j in jobs])}
        for i, job in enumerate(jobs):
            row = rows[job.pk]
            assert row.status_code == JobStatus.COMPLETE, (row.pk, row.status_code)
            assert row.result == i * i
            assert row.status_message == ""
            assert row.callback_seqs == {"seq": {"dask": 1}, "exit": {"dask": 0}}
            assert row.execute_time is not None
            assert row.start_time is not None and row.completion_time is not None
            assert row.start_time <= row.completion_time
        # A report that comes again (the refresher, result()) finds the job finished.
        assert jobs[3].fetch_result(timeout=10) == 9
    finally:
        _forget(dask_scheduler, small[0] + big[0])


def test_a_row_that_moved_meanwhile_undoes_the_whole_write(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    jobs = _sweep(manager, user, dask_scheduler, 6)
    try:
        with push_thread_held():
            manager.execute_all(jobs)
            reports = _queued_reports(6)
            rows, others = dask_finish._read(reports)
            assert len(rows) == 6 and others == []
            # Another writer (a user's action, the refresher) changes one job.
            Job.objects.filter(pk=jobs[2].pk).update(status_version=F("status_version") + 1)
            assert dask_finish._write(rows) is False
            stored = DaskJob.objects.filter(pk__in=[j.pk for j in jobs])
            assert not stored.filter(status_code=JobStatus.COMPLETE).exists()
            assert all(row.result is None for row in stored)
            # Read again, the batch is recorded.
            assert dask_finish.finish_many(reports) == []
        assert set(stored.values_list("status_code", flat=True)) == {JobStatus.COMPLETE}
        assert [j.result for j in stored.order_by("pk")] == [i * i for i in range(6)]
    finally:
        _forget(dask_scheduler, jobs)


def test_errors_forgotten_results_and_results_callbacks_in_one_batch(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    plain = _sweep(manager, user, dask_scheduler, 3)
    failing = manager.create_jobs(
        "zero_{id}",
        user,
        "DASK",
        scheduler=dask_scheduler,
        function="operator.truediv",
        parameters=[{"args": [1, 0]}, {"args": [2, 0]}],
    )
    forgetful = _sweep(manager, user, dask_scheduler, 2, forget=True)
    dollars = _sweep(
        manager,
        user,
        dask_scheduler,
        2,
        process_results_function="tests.tethys_compat.job_functions.convert_to_dollar_sign",
    )
    jobs = plain + failing + forgetful + dollars
    try:
        with push_thread_held():
            manager.execute_all(jobs)
            # The reports queue up while the push thread is held.
            wait_for(lambda: len(dask_reports._queued) >= len(jobs), timeout=120, what="reports")
        # Released: the push thread records every queued report, together or one by one.
        ids = [j.pk for j in jobs]
        wait_for(
            lambda: (
                not Job.objects.filter(pk__in=ids)
                .exclude(status_code__in=[JobStatus.COMPLETE, JobStatus.ERROR])
                .exists()
            ),
            timeout=60,
            what="every job finished",
        )
        rows = {j.pk: j for j in DaskJob.objects.filter(pk__in=ids)}
        assert [rows[j.pk].result for j in plain] == [0, 1, 4]
        for job in failing:
            assert rows[job.pk].status_code == JobStatus.ERROR
            assert "ZeroDivisionError" in rows[job.pk].status_message
            assert rows[job.pk].result is None
        for job in forgetful:
            assert rows[job.pk].status_code == JobStatus.COMPLETE
            assert rows[job.pk].result is None
        assert [rows[j.pk].result for j in dollars] == ["$0", "$1"]
        assert all(rows[j.pk].status_code == JobStatus.COMPLETE for j in dollars)
    finally:
        _forget(dask_scheduler, jobs)


def _running_together_counted(jobs: list[Any]) -> tuple[list[str], list[str]]:
    from tethys_compute.jobs import running

    keys = list(DaskJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("key", flat=True))
    with CaptureQueriesContext(connection) as seen:
        left = running._running_together([*keys, "someone-elses-task"])
    return left, statements(seen)


def test_task_starts_of_a_batch_are_recorded_in_as_many_queries_as_a_few(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    small = _sweep(manager, user, dask_scheduler, 3)
    big = _sweep(manager, user, dask_scheduler, 200)
    jobs = small + big
    try:
        with push_thread_held():
            manager.execute_all(jobs)
            # Held, the push thread records nothing: every job is still Submitted.
            stored = Job.objects.filter(pk__in=[j.pk for j in jobs])
            assert set(stored.values_list("status_code", flat=True)) == {JobStatus.SUBMITTED}
            left_small, counted_small = _running_together_counted(small)
            left_big, counted_big = _running_together_counted(big)
            # A key no job has goes the one-by-one way (which waits for a key being stored).
            assert left_small == left_big == ["someone-elses-task"]
            # The jobs' rows, the keys not found among them, one update.
            assert [s.split()[0] for s in counted_big] == ["SELECT", "SELECT", "UPDATE"]
            assert len(counted_small) == len(counted_big)
            assert set(stored.values_list("status_code", flat=True)) == {JobStatus.RUNNING}
            assert not stored.filter(start_time=None).exists()
            # A job already Running is left as it is (no second update).
            assert _running_together_counted(small)[1][-1].split()[0] == "SELECT"
            _queued_reports(len(jobs))
        # The finish path then records every job from Running to Complete.
        dask_finish.finish_many([dask_finish.Report(j.pk, j.callback_key, j.future) for j in jobs])
        assert set(stored.values_list("status_code", flat=True)) == {JobStatus.COMPLETE}
    finally:
        _forget(dask_scheduler, jobs)
