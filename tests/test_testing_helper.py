"""The app-developer testing helpers of :mod:`tethys_compute.testing`, used both ways.

From pytest (the context manager and the ``tethys_dask_scheduler`` fixture)
and from a Django ``TestCase`` (the mixin), so that ``python -m django test``
works for portals too.
"""

from __future__ import annotations

import operator

import psutil
import pytest
from django.test import TestCase

from tethys_compute.dask_client import cached_client
from tethys_compute.models import DaskScheduler
from tethys_compute.scheduler_manager import get_scheduler
from tethys_compute.testing import DaskSchedulerTestMixin, dask_scheduler


@pytest.mark.dask
@pytest.mark.django_db
def test_context_manager_starts_registers_and_tears_everything_down() -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with dask_scheduler("Helper", n_workers=2, threads_per_worker=1) as record:
        assert isinstance(record, DaskScheduler) and record.pk is not None
        client = get_scheduler("Helper").client
        assert client.submit(operator.add, 20, 22).result(timeout=10) == 42
        assert len(client.scheduler_info()["workers"]) == 2
        address = record.host
        pids = [p.pid for p in psutil.Process().children(recursive=True) if p.pid not in before]
        assert sum(_is_dask(pid) for pid in pids) == 3  # a scheduler and two workers
    assert not DaskScheduler.objects.filter(name="Helper").exists()
    assert client.status == "closed"
    assert cached_client(address) is None
    assert not any(psutil.pid_exists(pid) and _is_dask(pid) for pid in pids)


def _is_dask(pid: int) -> bool:
    try:
        return "distributed.cli" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


@pytest.mark.dask
@pytest.mark.django_db
def test_pytest_fixture_gives_a_working_default_scheduler(
    tethys_dask_scheduler: DaskScheduler,
) -> None:
    assert tethys_dask_scheduler.name == "Default"
    assert get_scheduler("Default").client.submit(abs, -5).result(timeout=10) == 5


@pytest.mark.dask
class DjangoTestCaseUsesTheMixin(DaskSchedulerTestMixin, TestCase):
    """Runs under pytest-django and under ``python -m django test`` alike."""

    dask_scheduler_name = "FromTestCase"
    dask_threads_per_worker = 2

    def test_record_is_registered_and_works(self) -> None:
        scheduler = get_scheduler("FromTestCase")
        self.assertEqual(scheduler.pk, self.dask_scheduler.pk)
        self.assertEqual(scheduler.client.submit(operator.mul, 6, 7).result(timeout=10), 42)

    def test_health_of_the_class_cluster(self) -> None:
        result = self.dask_scheduler.test_connection()
        self.assertTrue(result.ok, result.summary)
        self.assertEqual(result.details["total_threads"], 2)
