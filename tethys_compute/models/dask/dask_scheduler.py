"""Tethys Platform's module path of :class:`~tethys_compute.models.DaskScheduler`."""

from __future__ import annotations

from tethys_compute.models.dask import DaskScheduler

__all__ = ["DaskScheduler"]
