"""Tethys Platform's module path of :class:`~tethys_compute.models.CondorJob`."""

from __future__ import annotations

from tethys_compute.models.job import CondorJob

__all__ = ["CondorJob"]
