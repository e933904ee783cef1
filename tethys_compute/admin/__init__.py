"""Admin pages of tethys-compute ("Tethys Compute" in the Django admin).

Django imports this package (``admin`` autodiscovery) only where
``django.contrib.admin`` is installed; importing it registers every page.
One module per page family:

* :mod:`~tethys_compute.admin.schedulers`: the Schedulers list and "Test connection";
* :mod:`~tethys_compute.admin.scheduler_kinds`: each scheduler kind's add/change page;
* :mod:`~tethys_compute.admin.forms`: their forms, with write-only secret fields;
* :mod:`~tethys_compute.admin.jobs`: the Jobs list and job page, with
  :mod:`~tethys_compute.admin.job_actions` (the list's actions) and
  :mod:`~tethys_compute.admin.job_display` (badges, the state filter, arguments);
* :mod:`~tethys_compute.admin.clusters`: the Clusters page;
* :mod:`~tethys_compute.admin.filters`: list filters shared by the families;
* :mod:`~tethys_compute.admin.trust`: which users may make the portal connect
  a ``distributed.Client``.
"""

from __future__ import annotations

from tethys_compute.admin import clusters, jobs, scheduler_kinds, schedulers
from tethys_compute.admin.scheduler_kinds import (
    CondorSchedulerAdmin,
    DaskSchedulerAdmin,
    KindAdmin,
)
from tethys_compute.admin.schedulers import KindFilter, SchedulerAdmin

__all__ = [
    "CondorSchedulerAdmin",
    "DaskSchedulerAdmin",
    "KindAdmin",
    "KindFilter",
    "SchedulerAdmin",
    "clusters",
    "jobs",
    "scheduler_kinds",
    "schedulers",
]
