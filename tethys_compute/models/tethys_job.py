"""Tethys Platform's module path of the base job: ``TethysJob`` is :class:`Job`."""

from __future__ import annotations

from tethys_compute.models.job import Job

TethysJob = Job

__all__ = ["TethysJob"]
