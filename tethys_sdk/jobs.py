"""Jobs API for app developers: create, run and track jobs on any scheduler.

This module only re-exports; the logic lives in :mod:`tethys_compute.jobs`
and :mod:`tethys_compute.models.job`.

Examples
--------
>>> from tethys_sdk.jobs import JobManager, JobStatus
>>> manager = JobManager("my_app", "/tmp/my_app")
>>> JobStatus.RUNNING.label
'Running'
"""

from __future__ import annotations

from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    TRANSITIONS,
    JobStatus,
    parse_status,
)
from tethys_compute.models.job import (
    BasicJob,
    CondorJob,
    CondorWorkflow,
    CondorWorkflowNode,
    DaskJob,
    Job,
)

#: Tethys Platform's names for the same classes.
TethysJob = Job
CondorWorkflowJobNode = CondorWorkflowNode

__all__ = [
    "ACTIVE_STATUSES",
    "BasicJob",
    "CondorJob",
    "CondorWorkflow",
    "CondorWorkflowJobNode",
    "CondorWorkflowNode",
    "DaskJob",
    "FINAL_STATUSES",
    "Job",
    "JobManager",
    "JobStatus",
    "TRANSITIONS",
    "TethysJob",
    "parse_status",
    "refresh_jobs",
]
