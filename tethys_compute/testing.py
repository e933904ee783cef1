"""Testing helpers for apps that use Dask schedulers: real processes, real records.

Three ways to get a real local Dask scheduler with worker processes on free
loopback ports, registered as a :class:`~tethys_compute.models.DaskScheduler`
record, and torn down afterwards (record, cached clients, processes):

* :func:`dask_scheduler`, a context manager, anywhere;
* the pytest fixtures ``tethys_dask_scheduler`` (one record per test) and
  ``tethys_dask_cluster`` (the processes, started once per session): enable
  them with ``pytest_plugins = ["tethys_compute.testing"]`` in your
  ``conftest.py``;
* :class:`DaskSchedulerTestMixin` for Django ``TestCase`` classes (processes
  per class, the record per test), which also works with
  ``python manage.py test``.

Functions run on the workers are pickled; define them in a module the
workers can import (your app package), not in a test module that needs
Django set up.

Examples
--------
>>> from tethys_compute.testing import dask_scheduler
>>> with dask_scheduler("Default", n_workers=2) as scheduler:  # doctest: +SKIP
...     scheduler.client.submit(sum, [1, 2]).result()
3
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from tethys_compute.dask_client import close_clients
from tethys_compute.dask_processes import LocalDaskCluster

if TYPE_CHECKING:
    from tethys_compute.models import DaskScheduler

__all__ = [
    "DaskSchedulerTestMixin",
    "dask_cluster",
    "dask_scheduler",
    "register_dask_scheduler",
]


@contextlib.contextmanager
def dask_cluster(
    n_workers: int = 1, threads_per_worker: int = 1, **options: Any
) -> Iterator[LocalDaskCluster]:
    """Run a local Dask scheduler and ``n_workers`` worker processes.

    Parameters
    ----------
    n_workers : int
        Worker processes.
    threads_per_worker : int
        Threads per worker.
    **options
        More :class:`~tethys_compute.dask_processes.LocalDaskCluster` options
        (``memory_limit``, ``nanny``, ``dashboard``, ``timeout``, ``env``).

    Yields
    ------
    LocalDaskCluster
        Started; stopped (no processes left) when the block ends.

    Examples
    --------
    >>> with dask_cluster(n_workers=1) as cluster:  # doctest: +SKIP
    ...     cluster.address
    'tcp://127.0.0.1:41871'
    """
    cluster = LocalDaskCluster(n_workers, threads_per_worker, **options)
    cluster.start()
    try:
        yield cluster
    finally:
        close_clients(cluster.address)
        cluster.stop()


@contextlib.contextmanager
def register_dask_scheduler(
    cluster: LocalDaskCluster, name: str = "Default", **fields: Any
) -> Iterator[DaskScheduler]:
    """Register a ``DaskScheduler`` record for a running cluster; remove it afterwards.

    Parameters
    ----------
    cluster : LocalDaskCluster
        A started cluster.
    name : str
        The record's name.
    **fields
        ``timeout``, ``heartbeat_interval``, ``dashboard`` or ``description``
        of the record.

    Yields
    ------
    DaskScheduler
        The saved record.  Afterwards the record is deleted (when it still
        exists) and its cached clients are closed.

    Examples
    --------
    >>> with dask_cluster() as cluster, register_dask_scheduler(cluster) as s:  # doctest: +SKIP
    ...     s.name
    'Default'
    """
    record = _new_record(name, cluster.address, **fields)
    try:
        yield record
    finally:
        close_clients(cluster.address)
        type(record).objects.filter(pk=record.pk).delete()


@contextlib.contextmanager
def dask_scheduler(
    name: str = "Default",
    n_workers: int = 1,
    threads_per_worker: int = 1,
    *,
    cluster: LocalDaskCluster | None = None,
    **fields: Any,
) -> Iterator[DaskScheduler]:
    """Start a real local Dask cluster and register it as a ``DaskScheduler``.

    Parameters
    ----------
    name : str
        The record's name (apps find it with ``get_scheduler(name)``).
    n_workers : int
        Worker processes.
    threads_per_worker : int
        Threads per worker.
    cluster : LocalDaskCluster, optional
        Use this running cluster instead of starting one (it is left running).
    **fields
        More fields of the record (``timeout``, ``heartbeat_interval``,
        ``dashboard``, ``description``).

    Yields
    ------
    DaskScheduler
        The saved record.  Afterwards the record is deleted, its clients are
        closed and the processes (if started here) are stopped.

    Examples
    --------
    >>> from tethys_sdk.compute import get_scheduler
    >>> with dask_scheduler("Default") as scheduler:  # doctest: +SKIP
    ...     get_scheduler("Default").client.submit(abs, -3).result()
    3
    """
    if cluster is not None:
        with register_dask_scheduler(cluster, name, **fields) as record:
            yield record
        return
    with (
        dask_cluster(n_workers, threads_per_worker) as own_cluster,
        register_dask_scheduler(own_cluster, name, **fields) as record,
    ):
        yield record


def _new_record(name: str, address: str, **fields: Any) -> DaskScheduler:
    """``create_dask_scheduler(name, address, **fields)``, imported when first called.

    Django requires the late import: this module is also a pytest plugin, which
    pytest may import before Django is set up (``pytest -p tethys_compute.testing``),
    and the scheduler manager imports the models, which need the app registry.
    """
    from tethys_compute.scheduler_manager import create_dask_scheduler

    return create_dask_scheduler(name, address, **fields)


class DaskSchedulerTestMixin:
    """Mixin for Django ``TestCase``: a real Dask cluster per class, a record per test.

    The processes start in ``setUpClass`` and stop in a class cleanup; the
    ``DaskScheduler`` record is created in ``setUp`` (inside the test's
    transaction, so the test database rolls it back).

    Attributes
    ----------
    dask_scheduler_name : str
        Name of the record (default ``"Default"``).
    dask_n_workers, dask_threads_per_worker : int
        Size of the cluster (default 1 and 1).
    dask_cluster : LocalDaskCluster
        The running cluster (set on the class).
    dask_scheduler : DaskScheduler
        The record (set on the test instance).

    Examples
    --------
    >>> from django.test import TestCase
    >>> class SumTests(DaskSchedulerTestMixin, TestCase):
    ...     dask_n_workers = 2
    ...
    ...     def test_sum(self):
    ...         self.assertEqual(self.dask_scheduler.client.submit(sum, [1, 2]).result(), 3)
    """

    dask_scheduler_name: ClassVar[str] = "Default"
    dask_n_workers: ClassVar[int] = 1
    dask_threads_per_worker: ClassVar[int] = 1
    dask_cluster: ClassVar[LocalDaskCluster]
    dask_scheduler: DaskScheduler

    @classmethod
    def setUpClass(cls) -> None:
        cluster = LocalDaskCluster(cls.dask_n_workers, cls.dask_threads_per_worker)
        cluster.start()
        cls.dask_cluster = cluster
        cls.addClassCleanup(cls._stop_dask_cluster, cluster)  # type: ignore[attr-defined]
        super().setUpClass()  # type: ignore[misc]

    @staticmethod
    def _stop_dask_cluster(cluster: LocalDaskCluster) -> None:
        close_clients(cluster.address)
        cluster.stop()

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.dask_scheduler = _new_record(self.dask_scheduler_name, self.dask_cluster.address)


# ----------------------------------------------------------------------
# pytest plugin: pytest_plugins = ["tethys_compute.testing"]
# ----------------------------------------------------------------------
try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional for apps
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def tethys_dask_cluster() -> Iterator[LocalDaskCluster]:
        """A local Dask scheduler and one 2-thread worker process for the whole session."""
        with dask_cluster(n_workers=1, threads_per_worker=2) as cluster:
            yield cluster

    @pytest.fixture
    def tethys_dask_scheduler(
        db: None, tethys_dask_cluster: LocalDaskCluster
    ) -> Iterator[DaskScheduler]:
        """A ``DaskScheduler`` named ``"Default"`` for the session's cluster (per test)."""
        with register_dask_scheduler(tethys_dask_cluster, "Default") as record:
            yield record
