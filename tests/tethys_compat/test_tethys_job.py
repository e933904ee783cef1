"""Tethys Platform's ``TethysJob``: status lists, custom statuses, status setter, save rules.

Each test names the Tethys behaviour it pins; the jobs are BasicJobs (Tethys'
TethysJob is abstract in use).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tethys_compute.exceptions import InvalidStatusTransition
from tethys_compute.job_manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import BasicJob, Job
from tethys_compute.models.tethys_job import TethysJob

pytestmark = pytest.mark.django_db

CODES = ["PEN", "SUB", "RUN", "VAR", "PAS", "COM", "ERR", "ABT", "VCP", "RES", "OTH"]
NAMES = [
    "Pending",
    "Submitted",
    "Running",
    "Various",
    "Paused",
    "Complete",
    "Error",
    "Aborted",
    "Various-Complete",
    "Results-Ready",
    "Other",
]


def stored(job: Job) -> Job:
    return Job.objects.get_subclass(pk=job.pk)  # type: ignore[no-any-return]


def test_valid_and_display_statuses_are_tethys_codes_and_names_in_tethys_order() -> None:
    assert TethysJob.VALID_STATUSES == CODES
    assert TethysJob.DISPLAY_STATUSES == NAMES
    assert dict(TethysJob.STATUSES) == dict(zip(CODES, NAMES, strict=True))
    assert TethysJob.REVERSE_STATUSES["Results-Ready"] == "RES"


def test_status_categories_are_tethys_slices_of_the_display_names() -> None:
    assert TethysJob.PRE_RUNNING_STATUSES == ["Pending", "Submitted"]
    assert TethysJob.RUNNING_STATUSES == ["Running", "Various"]
    assert TethysJob.ACTIVE_STATUSES == ["Submitted", "Running", "Various", "Paused"]
    assert TethysJob.NON_TERMINAL_STATUSES == NAMES[:5]
    assert TethysJob.TERMINAL_STATUSES == [
        "Complete",
        "Error",
        "Aborted",
        "Various-Complete",
        "Results-Ready",
    ]
    assert TethysJob.NON_TERMINAL_STATUS_CODES == CODES[:5]
    assert TethysJob.TERMINAL_STATUS_CODES == CODES[5:-1]
    assert TethysJob.OTHER_STATUS_KEY == "__other_status__"


def test_add_custom_statuses_extends_the_tethys_categories_once(tethys_status_lists: Any) -> None:
    TethysJob.add_custom_pre_running_status("Queued")
    TethysJob.add_custom_running_status("Crunching")
    TethysJob.add_custom_active_status("Waiting")
    TethysJob.add_custom_terminal_status("Archived")
    TethysJob.add_custom_active_status("Waiting")
    assert TethysJob.PRE_RUNNING_STATUSES[-1] == "Queued"
    assert "Queued" in TethysJob.NON_TERMINAL_STATUSES
    assert "Crunching" in TethysJob.RUNNING_STATUSES and "Crunching" in TethysJob.ACTIVE_STATUSES
    assert TethysJob.ACTIVE_STATUSES.count("Waiting") == 1
    assert TethysJob.TERMINAL_STATUSES[-1] == "Archived"
    # The class lists are shared by every kind, as in Tethys.
    assert "Crunching" in BasicJob.ACTIVE_STATUSES


def test_custom_status_is_other_with_its_name_kept_and_read_back(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="custom", user=user, job_type="BASIC")
    job.status = "Waiting for review"
    again = stored(job)
    assert again.status_code == "OTH"
    assert again.extended_properties[TethysJob.OTHER_STATUS_KEY] == "Waiting for review"
    assert again.status == again.cached_status == "Waiting for review"
    # A real status afterwards drops the custom name.
    again.status = "Running"
    final = stored(job)
    assert final.status == "Running"
    assert TethysJob.OTHER_STATUS_KEY not in final.extended_properties


def test_status_setter_takes_codes_and_names_and_any_move_as_tethys_does(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="moves", user=user, job_type="BASIC")
    job.status = "COM"
    assert stored(job).status == "Complete" and stored(job).completion_time is not None
    job.status = "Running"  # leaves a final status: allowed for the app, as in Tethys
    assert stored(job).cached_status == "Running"
    job.update_status("ABT")
    assert stored(job).status == "Aborted"


def test_set_status_keeps_the_checked_state_model_under_its_own_name(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="strict", user=user, job_type="BASIC")
    job.status = "Complete"
    with pytest.raises(InvalidStatusTransition, match="resubmit"):
        job.set_status("Running")


def test_results_ready_set_by_the_app_is_processed_to_complete(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(
        name="res",
        user=user,
        job_type="BASIC",
        process_results_function="tests.tethys_compat.job_functions.record_in_properties",
    )
    job.execute()
    job.status = "Results-Ready"
    again = stored(job)
    assert again.status == "Complete" and again.extended_properties["processed"] is True


def test_assigning_a_function_to_process_results_function_stores_its_import_path(
    job_manager: JobManager, user: Any
) -> None:
    from tests.tethys_compat.job_functions import convert_to_dollar_sign

    job = job_manager.create_job(name="prf", user=user, job_type="BASIC")
    job.process_results_function = convert_to_dollar_sign
    job.save()
    path = "tests.tethys_compat.job_functions.convert_to_dollar_sign"
    assert Job.objects.values_list("process_results_function", flat=True).get(pk=job.pk) == path
    # Read back it is the path, and it calls the function (Tethys returns the function).
    again = stored(job)
    assert again.process_results_function == path
    assert again.process_results_function(3) == "$3"


def test_assigning_a_string_to_process_results_function_keeps_it(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="prf-str", user=user, job_type="BASIC")
    job.process_results_function = "my_app.results.load"
    job.save()
    assert stored(job).process_results_function == "my_app.results.load"


def test_execute_saves_what_the_app_set_after_create_job(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="saved", user=user, job_type="BASIC")
    job.extended_properties = {"one": 1, "two": 2}
    job.description = "set after create_job"
    job.process_results_function = "tests.tethys_compat.job_functions.record_in_properties"
    job.execute()
    again = stored(job)
    assert again.extended_properties == {"one": 1, "two": 2}
    assert again.description == "set after create_job"
    assert again.process_results_function.endswith("record_in_properties")
    assert again.status == "Submitted" and again.execute_time is not None


def test_name_with_id_placeholder_becomes_the_jobs_id(job_manager: JobManager, user: Any) -> None:
    job = job_manager.create_job(name="myjob_{id}", user=user, job_type="BASIC")
    assert job.name == f"myjob_{job.pk}"
    assert stored(job).name == f"myjob_{job.pk}"


def test_update_status_interval_is_ten_seconds_and_settable(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="interval", user=user, job_type="BASIC")
    assert job.update_status_interval == datetime.timedelta(seconds=10)
    assert job.is_time_to_update()  # never asked before
    job.update_status_interval = datetime.timedelta(hours=1)
    job.__dict__["_last_status_update"] = job.last_status_update.replace(year=2100)
    assert not job.is_time_to_update()


def test_type_is_the_class_name_and_jobs_order_by_id(job_manager: JobManager, user: Any) -> None:
    first = job_manager.create_job(name="a", user=user, job_type="BASIC")
    second = job_manager.create_job(name="b", user=user, job_type="BASIC")
    assert first.type == "BasicJob"
    assert first < second


def test_run_time_is_empty_text_before_submission_and_a_timedelta_after(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="rt", user=user, job_type="BASIC")
    assert job.run_time == ""
    job.execute()
    assert isinstance(stored(job).run_time, datetime.timedelta)


def test_update_status_without_a_status_on_a_job_without_scheduler_changes_nothing(
    job_manager: JobManager, user: Any
) -> None:
    job = job_manager.create_job(name="noop", user=user, job_type="BASIC")
    job.execute()
    job.update_status()
    assert stored(job).status_code == JobStatus.SUBMITTED


def test_process_results_takes_tethys_arguments(job_manager: JobManager, user: Any) -> None:
    job = job_manager.create_job(name="args", user=user, job_type="BASIC")
    job.execute()
    job.set_status("Results-Ready")
    job.process_results("test", name="test_name")
    done = stored(job)
    assert done.status == "Complete" and done.completion_time is not None
