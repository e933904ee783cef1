"""Compute API for app developers: schedulers and the cluster manager.

This module only re-exports; the logic lives in :mod:`tethys_compute`.
"""

from __future__ import annotations

from tethys_compute.clusters.manager import get_cluster_manager
from tethys_compute.scheduler_manager import (
    create_condor_scheduler,
    create_dask_scheduler,
    create_scheduler,
    get_scheduler,
    list_schedulers,
)

__all__ = [
    "create_condor_scheduler",
    "create_dask_scheduler",
    "create_scheduler",
    "get_cluster_manager",
    "get_scheduler",
    "list_schedulers",
]
