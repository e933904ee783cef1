"""Start and stop real ``dask scheduler`` and ``dask worker`` processes on this host.

Used by the testing helpers (:mod:`tethys_compute.testing`), the demo, the
benchmark and the cluster manager's ``local`` provider.  Every process is a
real ``distributed`` command-line program run with this interpreter
(``sys.executable -m distributed.cli.dask_scheduler`` / ``dask_worker``), so it
has exactly the packages of the portal.

* Ports: the scheduler listens on ``--port 0`` by default (the system picks a
  free port, no race) and reports its address through a scheduler file; pass
  ``port=`` to reuse a known port (for example after a restart).  The
  dashboard likewise listens on a free port unless ``dashboard=False``.
* Waiting: starting returns once the scheduler answers a request and, for
  workers, once they are registered with it, within a bounded ``timeout``.  A
  process that exits or does not get ready in time raises
  :class:`DaskProcessError` with the tail of its log.
* Detached processes (``detached=True``) run in their own session with their
  logs in files, so they outlive the Python process that started them (the
  cluster manager needs this); stop them later with :func:`stop_pids`.
  Attached processes (the default) are also stopped when the interpreter
  exits.
* Stopping sends ``SIGTERM`` to the process group, then ``SIGKILL`` after a
  bound: nothing is left running.

Examples
--------
>>> from tethys_compute.dask_processes import LocalDaskCluster
>>> with LocalDaskCluster(n_workers=2, threads_per_worker=1) as cluster:  # doctest: +SKIP
...     print(cluster.address, len(cluster.pids))
tcp://127.0.0.1:40123 3

Notes
-----
The code lives in :mod:`tethys_compute.dask.process`,
:mod:`tethys_compute.dask.launch` and :mod:`tethys_compute.dask.local_cluster`;
this module re-exports their public names (the old import path).
"""

from __future__ import annotations

from tethys_compute.dask.launch import start_scheduler, start_worker, wait_for_workers
from tethys_compute.dask.local_cluster import LocalDaskCluster
from tethys_compute.dask.process import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    DaskProcess,
    DaskProcessError,
    DaskProcessTimeoutError,
    TLSFiles,
    stop_pids,
)

__all__ = [
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "DaskProcess",
    "DaskProcessError",
    "DaskProcessTimeoutError",
    "LocalDaskCluster",
    "TLSFiles",
    "start_scheduler",
    "start_worker",
    "stop_pids",
    "wait_for_workers",
]
