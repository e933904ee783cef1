"""Tethys Platform's module path of ``CondorPyJob``: what Condor jobs and job nodes share.

In Tethys it is the condorpy-backed base of ``CondorJob`` and
``CondorWorkflowJobNode``; here that base is
:class:`~tethys_compute.models.condor_compat.CondorAttributesMixin` (the
submit commands as ``attributes``, ``get_attribute``/``set_attribute``,
``remote_input_files``, ``initial_dir``, condorpy templates).
"""

from __future__ import annotations

from tethys_compute.models.condor_compat import CondorAttributesMixin

CondorPyJob = CondorAttributesMixin

__all__ = ["CondorPyJob"]
