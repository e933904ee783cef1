"""Tethys Platform's module path of :class:`~tethys_compute.models.DaskJob`."""

from __future__ import annotations

from tethys_compute.models.job import DaskJob

__all__ = ["DaskJob"]
