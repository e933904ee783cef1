"""Tethys Platform's module path of :class:`~tethys_compute.models.CondorWorkflow`."""

from __future__ import annotations

from tethys_compute.models.job import CondorWorkflow

__all__ = ["CondorWorkflow"]
