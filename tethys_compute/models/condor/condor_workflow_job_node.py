"""Tethys Platform's module path of ``CondorWorkflowJobNode`` (a workflow's job node).

Every node of a workflow here is a job node, so the name is
:class:`~tethys_compute.models.CondorWorkflowNode` itself.
"""

from __future__ import annotations

from tethys_compute.models.job import CondorWorkflowNode

CondorWorkflowJobNode = CondorWorkflowNode

__all__ = ["CondorWorkflowJobNode"]
