"""Former home of the admin's Jobs page: now :mod:`tethys_compute.admin.jobs`.

Kept so that ``from tethys_compute.admin_jobs import format_age`` still works.
"""

from __future__ import annotations

from tethys_compute.admin.jobs import JobAdmin, JobKindFilter, format_age

__all__ = ["JobAdmin", "JobKindFilter", "format_age"]
