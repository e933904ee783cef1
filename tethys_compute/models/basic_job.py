"""Tethys Platform's module path of :class:`~tethys_compute.models.BasicJob`."""

from __future__ import annotations

from tethys_compute.models.job import BasicJob

__all__ = ["BasicJob"]
