"""Tethys Platform's module path of ``DaskJobException``."""

from __future__ import annotations

from tethys_compute.exceptions import DaskJobException

__all__ = ["DaskJobException"]
