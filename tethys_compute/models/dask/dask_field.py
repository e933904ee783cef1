"""Tethys Platform's module path of ``DaskSerializedField``, the field of ``DaskJob.result``.

Here it is :class:`~tethys_compute.value_fields.PickledValueField`: any
picklable value, stored pickled in a binary column (Tethys stores
distributed's serialisation as text).
"""

from __future__ import annotations

from tethys_compute.value_fields import PickledValueField

DaskSerializedField = PickledValueField

__all__ = ["DaskSerializedField"]
