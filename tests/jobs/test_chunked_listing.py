"""Walking many jobs with ``iterator()`` holds one chunk at a time, each row as its kind."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest

from tests.jobs.factories import bulk_create_jobs
from tethys_compute.jobs.manager import JobManager
from tethys_compute.models import BasicJob, CondorJob, DaskJob, Job

pytestmark = [pytest.mark.django_db]


def _peak_bytes(manager: JobManager) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        count = sum(1 for _ in manager.list_jobs().iterator(chunk_size=200))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_iterating_listed_jobs_holds_a_chunk_not_the_whole_list(user: Any) -> None:
    manager = JobManager("walked", "")
    bulk_create_jobs(600, label="walked", user=user)
    few, few_peak = _peak_bytes(manager)
    bulk_create_jobs(5400, label="walked", user=user)
    many, many_peak = _peak_bytes(manager)
    assert (few, many) == (600, 6000)
    # Ten times the jobs, about the same memory (all at once would be ~10x).
    assert many_peak < 2 * few_peak, (few_peak, many_peak)


def test_iterator_still_gives_each_job_as_its_kind(user: Any) -> None:
    bulk_create_jobs(9, label="kinds", user=user)
    kinds = [type(j) for j in Job.objects.filter(label="kinds").select_subclasses().iterator()]
    assert sorted(k.__name__ for k in kinds) == sorted(
        [BasicJob.__name__] * 3 + [CondorJob.__name__] * 3 + [DaskJob.__name__] * 3
    )
    listed = list(JobManager("kinds", "").list_jobs().iterator(chunk_size=4))
    assert [j.user for j in listed] == [user] * 9
    assert all(type(j) is not Job for j in listed)
