"""Tethys Platform's module path of the job manager: ``tethys_compute.job_manager``.

Re-exports :class:`~tethys_compute.jobs.manager.JobManager`; ``JOB_TYPES`` maps
the ``job_type`` names of ``create_job`` to the job classes, as in Tethys.
"""

from __future__ import annotations

from tethys_compute.jobs.manager import JobManager
from tethys_compute.models.job import BasicJob, CondorJob, CondorWorkflow, DaskJob, Job

#: ``job_type`` names of :meth:`JobManager.create_job` and their classes (Tethys' table).
JOB_TYPES: dict[str, type[Job]] = {
    "CONDOR": CondorJob,
    "CONDORJOB": CondorJob,
    "CONDORWORKFLOW": CondorWorkflow,
    "BASIC": BasicJob,
    "DASK": DaskJob,
}

__all__ = ["JOB_TYPES", "JobManager"]
