"""Former home of the admin forms: now :mod:`tethys_compute.admin.forms`.

Kept so that ``from tethys_compute.forms import CondorSchedulerForm`` still works.
"""

from __future__ import annotations

from tethys_compute.admin.forms import (
    CondorSchedulerForm,
    DaskSchedulerForm,
    WriteOnlyTextarea,
    clear_box,
    clear_field_name,
    secret_field,
)

__all__ = [
    "CondorSchedulerForm",
    "DaskSchedulerForm",
    "WriteOnlyTextarea",
    "clear_box",
    "clear_field_name",
    "secret_field",
]
