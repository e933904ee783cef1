"""Names that moved (down to the records layer or core, or into the parts of a split
module) still import from their old paths."""

from __future__ import annotations

import importlib

import pytest

OLD_PATHS = {
    "tethys_compute.clusters.cluster": [
        "Cluster",
        "DASK_SETUP_CLASS",
        "Node",
        "ProgressCallback",
        "TAG_PREFIX",
        "logger",
        "strip_tag",
        "_NODE_ALIAS",
        "_OVERRIDE_FIELDS",
        "_STATUS_FIELDS",
    ],
    "tethys_compute.clusters.providers.aws": [
        "AWSProvider",
        "CORE_TAG",
        "GROUP_DELETE_ATTEMPTS",
        "GROUP_DELETE_DELAY",
        "GROUP_DESCRIPTION",
        "MAX_POLL_INTERVAL",
        "POLL_INTERVAL",
        "RECEIPT_VERSION",
        "TAG_PREFIX",
        "USER_TAG",
        "VERSION_TAG",
        "decode_receipt",
        "encode_receipt",
        "group_name",
        "is_credentials_error",
        "logger",
        "T",
        "_AUTH_CODES",
        "_AUTH_STATUSES",
        "_CHUNK",
        "_LIVE_STATES",
    ],
    "tethys_compute.jobs.status": [
        "ACTIVE_STATUSES",
        "FINAL_STATUSES",
        "FINISHED_STATUSES",
        "WAITING_STATUSES",
        "MAX_ATTEMPTS",
        "TRANSITIONS",
        "JobStatus",
        "S",
        "StatusChange",
        "apply_status",
        "can_transition",
        "parse_status",
        "reset",
        "_reload_status",
        "_timestamps",
    ],
    "tethys_compute.jobs.results": [
        "MAX_DELAY",
        "failure_message",
        "finished_well",
        "max_attempts",
        "next_try",
    ],
    "tethys_compute.jobs.callback_tokens": [
        "SALT",
        "CallbackRejected",
        "callback_url",
        "make_token",
        "verify_token",
    ],
    "tethys_compute.jobs.condor_wrapper": [
        "URL_FILE",
        "WRAPPER_NAME",
        "WRAPPER_SCRIPT",
        "transfers_output",
        "wrap_condor_description",
        "wrapper_files",
    ],
    "tethys_compute.jobs.manager": [
        "JobManager",
        "app_workspace",
        "check_json",
        "user_folder_name",
        "_IMPORT_PATH",
        "_as_groups",
        "_check_import_path",
        "_check_scheduler",
        "_is_job_type",
        "_non_json",
    ],
    "tethys_compute.models.job": [
        "BasicJob",
        "CondorControl",
        "CondorJob",
        "CondorWorkflow",
        "CondorWorkflowNode",
        "DaskJob",
        "Job",
        "JobQuerySet",
        "JobRecordManager",
        "job_types",
        "parse_status",
        "protect_active_jobs",
        "refusing_scheduler_deletes",
        "remote_traceback",
        "_live_futures",
        "_store_inline_inputs",
    ],
}


@pytest.mark.parametrize("module", sorted(OLD_PATHS))
def test_moved_names_import_from_their_old_path(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in OLD_PATHS[module] if not hasattr(loaded, name)]
    assert not missing, f"{module} lost {missing}"


def test_the_model_classes_keep_their_app_and_tables() -> None:
    from tethys_compute.models import BasicJob, CondorJob, CondorWorkflow, DaskJob, Job

    tables = {
        m.__name__: (m._meta.app_label, m._meta.db_table)
        for m in (Job, BasicJob, CondorJob, CondorWorkflow, DaskJob)
    }
    assert tables == {
        "Job": ("tethys_compute", "tethys_compute_job"),
        "BasicJob": ("tethys_compute", "tethys_compute_basicjob"),
        "CondorJob": ("tethys_compute", "tethys_compute_condorjob"),
        "CondorWorkflow": ("tethys_compute", "tethys_compute_condorworkflow"),
        "DaskJob": ("tethys_compute", "tethys_compute_daskjob"),
    }
