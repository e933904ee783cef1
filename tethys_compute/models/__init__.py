"""Models of tethys-compute: schedulers of every kind, clusters and jobs."""

from tethys_compute.models import dask_checks  # noqa: F401 - registers its system check
from tethys_compute.models.cluster import Cluster, ClusterProvider, ClusterStatus
from tethys_compute.models.condor import CondorScheduler
from tethys_compute.models.dask import DaskScheduler
from tethys_compute.models.job import (
    BasicJob,
    CondorJob,
    CondorWorkflow,
    CondorWorkflowNode,
    DaskJob,
    Job,
    JobQuerySet,
)
from tethys_compute.models.scheduler import Scheduler, SchedulerManager, SchedulerQuerySet

__all__ = [
    "BasicJob",
    "Cluster",
    "ClusterProvider",
    "ClusterStatus",
    "CondorJob",
    "CondorScheduler",
    "CondorWorkflow",
    "CondorWorkflowNode",
    "DaskJob",
    "DaskScheduler",
    "Job",
    "JobQuerySet",
    "Scheduler",
    "SchedulerManager",
    "SchedulerQuerySet",
]
