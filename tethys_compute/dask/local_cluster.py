"""A throwaway local Dask cluster: one scheduler and n workers as real processes."""

from __future__ import annotations

import logging
import os
import shutil
import signal
from collections.abc import Mapping
from types import TracebackType

from tethys_compute.dask.launch import start_scheduler, start_worker, wait_for_workers
from tethys_compute.dask.process import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    DaskProcess,
    TLSFiles,
    _signal_group,
    _workdir,
)

logger = logging.getLogger(__name__)


class LocalDaskCluster:
    """A dask scheduler and worker processes on this host, on free loopback ports.

    Parameters
    ----------
    n_workers : int
        Worker processes (one ``dask worker`` process each).
    threads_per_worker : int
        Threads of each worker.
    memory_limit : str or int
        Memory limit of each worker (``--memory-limit``).
    nanny : bool
        Run workers under a nanny (needed for ``client.restart()``).
    dashboard : bool
        Serve the scheduler's dashboard.
    detached : bool
        Processes outlive this interpreter; stop them with :meth:`stop` or
        :func:`stop_pids` (the cluster manager records :attr:`pids`).
    port : int
        Scheduler port; 0 picks a free one.
    host : str
        Listen address of all processes.
    workdir : path, optional
        Directory for logs and the scheduler file (a temporary one by
        default, removed by :meth:`stop` unless detached).
    timeout : float
        Seconds to wait for the scheduler and all workers.
    env : mapping, optional
        Extra environment variables for every process.
    tls : tuple, optional
        ``(ca_file, cert_file, key_file)``: every process talks ``tls://``
        with certificates signed by that CA.

    Examples
    --------
    >>> from distributed import Client
    >>> with LocalDaskCluster(n_workers=2) as cluster:  # doctest: +SKIP
    ...     with Client(cluster.address) as client:
    ...         print(client.submit(sum, [1, 2]).result())
    3
    """

    def __init__(
        self,
        n_workers: int = 1,
        threads_per_worker: int = 1,
        *,
        memory_limit: str | int = "auto",
        nanny: bool = False,
        dashboard: bool = True,
        detached: bool = False,
        port: int = 0,
        host: str = "127.0.0.1",
        workdir: str | os.PathLike[str] | None = None,
        timeout: float = START_TIMEOUT,
        env: Mapping[str, str] | None = None,
        tls: TLSFiles | None = None,
    ) -> None:
        if n_workers < 0 or threads_per_worker < 1:
            raise ValueError("n_workers must be >= 0 and threads_per_worker >= 1")
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.memory_limit = memory_limit
        self.nanny = nanny
        self.dashboard = dashboard
        self.detached = detached
        self.port = port
        self.host = host
        self.timeout = timeout
        self.env = dict(env or {})
        self.tls = tls
        self._own_workdir = workdir is None
        self.workdir = _workdir(workdir, "tethys-dask-")
        self.scheduler: DaskProcess | None = None
        self.workers: list[DaskProcess] = []

    @property
    def address(self) -> str:
        """The scheduler's address, ``tcp://127.0.0.1:PORT``."""
        if self.scheduler is None or self.scheduler.address is None:
            raise RuntimeError("The cluster is not started; call start() or use 'with'.")
        return self.scheduler.address

    @property
    def dashboard_address(self) -> str | None:
        """``host:port`` of the scheduler's dashboard, or None."""
        return self.scheduler.dashboard_address if self.scheduler else None

    @property
    def dashboard_link(self) -> str | None:
        """``http://host:port/status``, or None without a dashboard."""
        return self.scheduler.dashboard_link if self.scheduler else None

    @property
    def pids(self) -> list[int]:
        """Process ids: the scheduler's first, then the workers'."""
        processes = ([self.scheduler] if self.scheduler else []) + self.workers
        return [p.pid for p in processes]

    def start(self) -> LocalDaskCluster:
        """Start the scheduler and the workers; return once all workers are connected."""
        if self.scheduler is not None:
            return self
        try:
            self.scheduler = start_scheduler(
                host=self.host,
                port=self.port,
                dashboard=self.dashboard,
                workdir=self.workdir,
                detached=self.detached,
                timeout=self.timeout,
                env=self.env,
                tls=self.tls,
            )
            for _ in range(self.n_workers):
                self.add_worker(wait=False)
            if self.workers:
                wait_for_workers(
                    self.address,
                    names=[w.name for w in self.workers if w.name],
                    timeout=self.timeout,
                    processes=self.workers,
                    tls=self.tls,
                )
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, *, wait: bool = True, nthreads: int | None = None) -> DaskProcess:
        """Start one more worker process (and wait until it is connected)."""
        worker = start_worker(
            self.address,
            nthreads=nthreads or self.threads_per_worker,
            memory_limit=self.memory_limit,
            nanny=self.nanny,
            host=self.host,
            workdir=self.workdir / f"worker-{len(self.workers)}",
            detached=self.detached,
            wait=wait,
            timeout=self.timeout,
            env=self.env,
            tls=self.tls,
        )
        self.workers.append(worker)
        return worker

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the workers, then the scheduler; nothing is left running."""
        workers, self.workers = self.workers, []
        for worker in workers:
            _signal_group(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.stop(timeout)
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.stop(timeout)
        if self._own_workdir and not self.detached:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalDaskCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.scheduler.address if self.scheduler else "not started"
        return f"<LocalDaskCluster {where} workers={len(self.workers)}>"
