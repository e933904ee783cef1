"""Tethys Platform's module path of :class:`~tethys_compute.models.CondorScheduler`."""

from __future__ import annotations

from tethys_compute.models.condor import CondorScheduler

__all__ = ["CondorScheduler"]
