"""Models of tethys-compute: schedulers of every kind and clusters (jobs come later)."""

from tethys_compute.models.cluster import Cluster, ClusterProvider, ClusterStatus
from tethys_compute.models.condor import CondorScheduler
from tethys_compute.models.dask import DaskScheduler
from tethys_compute.models.scheduler import Scheduler, SchedulerManager, SchedulerQuerySet

__all__ = [
    "Cluster",
    "ClusterProvider",
    "ClusterStatus",
    "CondorScheduler",
    "DaskScheduler",
    "Scheduler",
    "SchedulerManager",
    "SchedulerQuerySet",
]
