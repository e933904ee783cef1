"""Models of tethys-compute: schedulers of every kind (clusters and jobs come later)."""

from tethys_compute.models.condor import CondorScheduler
from tethys_compute.models.dask import DaskScheduler
from tethys_compute.models.scheduler import Scheduler, SchedulerManager, SchedulerQuerySet

__all__ = [
    "CondorScheduler",
    "DaskScheduler",
    "Scheduler",
    "SchedulerManager",
    "SchedulerQuerySet",
]
