"""Tethys Platform's module path of :class:`~tethys_compute.models.CondorWorkflowNode`."""

from __future__ import annotations

from tethys_compute.models.job import CondorWorkflowNode

__all__ = ["CondorWorkflowNode"]
