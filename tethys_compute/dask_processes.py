"""Local ``dask scheduler`` and ``dask worker`` processes, at their historical import path.

Everything is defined in :mod:`tethys_compute.dask.process`,
:mod:`tethys_compute.dask.launch` and :mod:`tethys_compute.dask.local_cluster`
(described there); this module re-exports their public names.
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
