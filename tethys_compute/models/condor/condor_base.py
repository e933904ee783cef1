"""Tethys Platform's module path of ``CondorBase``: what Condor jobs and workflows share."""

from __future__ import annotations

from tethys_compute.models.job import CondorControl

CondorBase = CondorControl

__all__ = ["CondorBase"]
