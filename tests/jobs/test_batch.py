"""Many jobs at once: JobManager.create_jobs and execute_all, on real Dask processes.

Queries are counted with ``CaptureQueriesContext``, scheduler calls with
:data:`tethys_compute.counters.remote_calls` (where they are sent).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.jobs.conftest import wait_for
from tests.jobs.test_query_counts import statements
from tethys_compute.counters import remote_calls
from tethys_compute.dask_client import scheduler_call
from tethys_compute.exceptions import InvalidStatusTransition
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import DaskJob, DaskScheduler, Job

pytestmark = [pytest.mark.dask, pytest.mark.django_db(transaction=True)]


def _sweep(manager: JobManager, user: Any, scheduler: DaskScheduler, n: int, **kw: Any) -> Any:
    return manager.create_jobs(
        "square_{id}",
        user,
        "DASK",
        scheduler=scheduler,
        function="operator.mul",
        parameters=[{"args": [i, i]} for i in range(n)],
        **kw,
    )


def _forget(scheduler: DaskScheduler, jobs: list[Any]) -> None:
    """Tear down in bulk (the fixture's one-by-one delete would take a while)."""
    client = scheduler.get_client()
    held = set(scheduler_call(client, "list_datasets"))
    for job in jobs:
        if job.key in held:
            scheduler_call(client, "unpublish_dataset", job.key)
    Job.objects.filter(pk__in=[j.pk for j in jobs]).delete()


def _wait_complete(jobs: list[Any]) -> None:
    ids = [j.pk for j in jobs]
    wait_for(
        lambda: not Job.objects.filter(pk__in=ids).exclude(status_code=JobStatus.COMPLETE).exists(),
        timeout=120,
        what=f"{len(ids)} done callbacks",
    )


def _measure(manager: JobManager, user: Any, scheduler: DaskScheduler, n: int) -> Any:
    # This thread's calls only: the done callbacks of jobs that already finished
    # fetch their results from other threads meanwhile.
    with CaptureQueriesContext(connection) as created, remote_calls.measure_thread() as seen_create:
        jobs = _sweep(manager, user, scheduler, n)
    with CaptureQueriesContext(connection) as executed, remote_calls.measure_thread() as seen_exec:
        manager.execute_all(jobs)
    return (
        jobs,
        statements(created),
        statements(executed),
        seen_create.commands("dask"),
        seen_exec.commands("dask"),
    )


def test_a_thousand_dask_jobs_take_as_many_queries_and_calls_as_ten(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    dask_scheduler.get_client()
    small = _measure(manager, user, dask_scheduler, 10)
    # The counters are process-wide: let the first jobs' done callbacks finish first.
    _wait_complete(small[0])
    big = _measure(manager, user, dask_scheduler, 1000)
    try:
        # Creating: one INSERT per table, one UPDATE for folders and one for names.
        assert len(big[1]) == len(small[1]) <= 4, big[1]
        assert [s.split()[0] for s in big[1]] == ["INSERT", "INSERT", "UPDATE", "UPDATE"]
        # Executing: the same handful of statements for 10 jobs and for 1,000.
        assert len(big[2]) == len(small[2]) <= 6, [s[:120] for s in big[2]]
        # No scheduler call to create; one submission and one publication to execute.
        assert big[3] == small[3] == 0
        assert big[4] == small[4] == 2
        jobs = big[0]
        assert len({j.pk for j in jobs}) == 1000
        # Submitted, or already moved on by its done callback: never left Pending.
        assert all(j.status_code != JobStatus.PENDING and j.status_version >= 1 for j in jobs)
        # Each job is a job of its own: its id in its name and folder, its own result.
        stored = {j.pk: j for j in DaskJob.objects.filter(pk__in=[j.pk for j in jobs])}
        for job in jobs:
            row = stored[job.pk]
            assert row.name == job.name == f"square_{job.pk}"
            assert row.workspace == job.workspace
            assert os.path.basename(row.workspace) == str(job.pk)
            assert row.key == job.key and row.key.startswith(f"tethys-job-{job.pk}-")
            assert row.execute_time is not None
        _wait_complete(jobs)
        results = dict(DaskJob.objects.filter(pk__in=stored).values_list("pk", "result"))
        assert [results[j.pk] for j in jobs] == [i * i for i in range(1000)]
        assert jobs[7].fetch_result(timeout=10) == 49
    finally:
        _forget(dask_scheduler, small[0] + big[0])


def test_execute_all_submits_nothing_when_one_job_is_not_pending(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    jobs = _sweep(manager, user, dask_scheduler, 5)
    jobs[3].execute()
    try:
        with (
            remote_calls.measure() as seen,
            pytest.raises(
                InvalidStatusTransition,
                match=rf"1 of the jobs are not Pending \(ids {jobs[3].pk}\)",
            ),
        ):
            manager.execute_all(jobs)
        assert seen.commands("dask") == 0
        assert set(
            Job.objects.filter(pk__in=[j.pk for j in jobs[:3]]).values_list(
                "status_code", flat=True
            )
        ) == {JobStatus.PENDING}
        assert jobs[3].fetch_result(timeout=30) == 9
    finally:
        _forget(dask_scheduler, jobs)


def test_create_jobs_shares_them_with_groups_and_keeps_common_fields(
    manager: JobManager, user: Any, dask_scheduler: DaskScheduler
) -> None:
    team = Group.objects.create(name="team")
    jobs = _sweep(manager, user, dask_scheduler, 3, groups=[team], description="sweep")
    try:
        for job in Job.objects.filter(pk__in=[j.pk for j in jobs]).select_subclasses():
            assert list(job.groups.all()) == [team]
            assert job.description == "sweep"
            assert job.user == user
            assert job.scheduler_name == dask_scheduler.name
            assert job.status_code == JobStatus.PENDING
        assert list(manager.list_jobs(groups=[team])) == jobs
        # Tethys code reads job.id: the base row's id, the same as pk.
        assert [j.id for j in jobs] == [j.pk for j in jobs] and None not in [j.id for j in jobs]
        basic = manager.create_jobs("b_{id}", user, "BASIC", parameters=[{}, {}])
        assert [j.id for j in basic] == [j.pk for j in basic]
        assert [manager.get_job(j.id).name for j in basic] == [f"b_{j.pk}" for j in basic]
    finally:
        _forget(dask_scheduler, jobs)
