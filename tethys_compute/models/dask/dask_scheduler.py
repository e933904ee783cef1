"""Tethys Platform's module path of :class:`~tethys_compute.models.DaskScheduler`."""

from __future__ import annotations

from tethys_compute.models.dask import DaskScheduler
from tethys_compute.models.scheduler import Scheduler

__all__ = ["DaskScheduler", "Scheduler"]
