"""Models of tethys-compute: schedulers of every kind, clusters and jobs."""

from tethys_compute.models.cluster import Cluster, ClusterProvider, ClusterStatus
from tethys_compute.models.condor import CondorScheduler
from tethys_compute.models.dask import DaskScheduler
from tethys_compute.models.job import (
    BasicJob,
    CondorControl,
    CondorJob,
    CondorWorkflow,
    CondorWorkflowNode,
    DaskJob,
    Job,
    JobQuerySet,
)
from tethys_compute.models.scheduler import Scheduler, SchedulerManager, SchedulerQuerySet

#: Tethys Platform's names of the same classes.
TethysJob = Job
CondorWorkflowJobNode = CondorWorkflowNode
CondorBase = CondorControl

__all__ = [
    "BasicJob",
    "Cluster",
    "ClusterProvider",
    "ClusterStatus",
    "CondorBase",
    "CondorJob",
    "CondorScheduler",
    "CondorWorkflow",
    "CondorWorkflowJobNode",
    "CondorWorkflowNode",
    "DaskJob",
    "DaskScheduler",
    "Job",
    "JobQuerySet",
    "Scheduler",
    "SchedulerManager",
    "SchedulerQuerySet",
    "TethysJob",
]
