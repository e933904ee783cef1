"""Tethys Platform's module path of ``CondorPyWorkflow``.

In Tethys it is the condorpy-backed base of ``CondorWorkflow`` (and what a
node's ``workflow`` points to); here it is
:class:`~tethys_compute.models.CondorWorkflow` itself.
"""

from __future__ import annotations

from tethys_compute.models.job import CondorWorkflow

CondorPyWorkflow = CondorWorkflow

__all__ = ["CondorPyWorkflow"]
