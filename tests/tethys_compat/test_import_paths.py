"""Tethys Platform's import paths of the jobs API (what its docs and apps import)."""

from __future__ import annotations

import importlib

import pytest

from tethys_compute.models import BasicJob, CondorJob, CondorWorkflow, DaskJob, Job

#: (module, name) pairs Tethys Platform's code, docs and tutorials import.
TETHYS_NAMES = [
    ("tethys_compute.job_manager", "JobManager"),
    ("tethys_compute.job_manager", "JOB_TYPES"),
    ("tethys_compute.models", "TethysJob"),
    ("tethys_compute.models", "BasicJob"),
    ("tethys_compute.models", "CondorBase"),
    ("tethys_compute.models", "CondorJob"),
    ("tethys_compute.models", "CondorWorkflow"),
    ("tethys_compute.models", "CondorWorkflowNode"),
    ("tethys_compute.models", "CondorWorkflowJobNode"),
    ("tethys_compute.models", "CondorScheduler"),
    ("tethys_compute.models", "DaskJob"),
    ("tethys_compute.models", "DaskScheduler"),
    ("tethys_compute.models", "Scheduler"),
    ("tethys_compute.models.tethys_job", "TethysJob"),
    ("tethys_compute.models.basic_job", "BasicJob"),
    ("tethys_compute.models.condor.condor_base", "CondorBase"),
    ("tethys_compute.models.condor.condor_job", "CondorJob"),
    ("tethys_compute.models.condor.condor_scheduler", "CondorScheduler"),
    ("tethys_compute.models.condor.condor_workflow", "CondorWorkflow"),
    ("tethys_compute.models.condor.condor_workflow_node", "CondorWorkflowNode"),
    ("tethys_compute.models.condor.condor_workflow_job_node", "CondorWorkflowJobNode"),
    ("tethys_compute.models.dask.dask_job", "DaskJob"),
    ("tethys_compute.models.dask.dask_scheduler", "DaskScheduler"),
    ("tethys_compute.models.dask.dask_job_exception", "DaskJobException"),
    ("tethys_compute.models.dask.dask_field", "DaskSerializedField"),
    ("tethys_compute.models.dask.dask_scheduler", "Scheduler"),
    ("tethys_compute.models.condor.condor_py_job", "CondorPyJob"),
    ("tethys_compute.models.condor.condor_py_workflow", "CondorPyWorkflow"),
    ("tethys_sdk.jobs", "TethysJob"),
    ("tethys_sdk.jobs", "BasicJob"),
    ("tethys_sdk.jobs", "CondorJob"),
    ("tethys_sdk.jobs", "CondorWorkflow"),
    ("tethys_sdk.jobs", "CondorWorkflowJobNode"),
    ("tethys_sdk.jobs", "DaskJob"),
]


@pytest.mark.parametrize(("module", "name"), TETHYS_NAMES)
def test_tethys_import_path_exists(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


def test_tethys_names_are_the_same_classes_everywhere() -> None:
    from tethys_compute.models.condor.condor_job import CondorJob as ByPath
    from tethys_compute.models.dask.dask_job import DaskJob as DaskByPath
    from tethys_compute.models.tethys_job import TethysJob
    from tethys_sdk.jobs import TethysJob as SdkTethysJob

    assert TethysJob is SdkTethysJob is Job
    assert ByPath is CondorJob and DaskByPath is DaskJob


def test_job_types_map_tethys_names_to_job_classes() -> None:
    from tethys_compute.job_manager import JOB_TYPES

    assert JOB_TYPES == {
        "CONDOR": CondorJob,
        "CONDORJOB": CondorJob,
        "CONDORWORKFLOW": CondorWorkflow,
        "BASIC": BasicJob,
        "DASK": DaskJob,
    }


def test_dask_job_exception_is_what_an_unreachable_scheduler_raises() -> None:
    from tethys_compute.exceptions import (
        DaskSchedulerConnectionError,
        DaskSchedulerTimeoutError,
        SchedulerConnectionError,
    )
    from tethys_compute.models.dask.dask_job_exception import DaskJobException

    assert issubclass(DaskSchedulerConnectionError, DaskJobException)
    assert issubclass(DaskSchedulerTimeoutError, DaskJobException)
    assert issubclass(DaskSchedulerConnectionError, SchedulerConnectionError)


def test_condorpy_base_names_cover_jobs_nodes_and_workflows() -> None:
    from tethys_compute.models import CondorWorkflowJobNode
    from tethys_compute.models.condor.condor_py_job import CondorPyJob
    from tethys_compute.models.condor.condor_py_workflow import CondorPyWorkflow

    assert issubclass(CondorJob, CondorPyJob) and issubclass(CondorWorkflowJobNode, CondorPyJob)
    assert CondorPyWorkflow is CondorWorkflow
    assert CondorPyJob.get_condorpy_template("vanilla_transfer_files")["universe"] == "vanilla"
