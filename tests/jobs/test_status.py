"""The state model: every transition, versioned updates, resets."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tethys_compute.exceptions import InvalidArgumentError, InvalidStatusTransition
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    JobStatus,
    apply_status,
    can_transition,
    parse_status,
    reset,
)
from tethys_compute.models import BasicJob, Job

pytestmark = pytest.mark.django_db

ALL = [s.value for s in JobStatus]

# The state model, written out here on its own (not read from the product), so
# that a change of the product's table fails this test.  Codes: PEN Pending,
# SUB Submitted, RUN Running, VAR Various, PAS Paused, VCP Various-Complete,
# RES Results-Ready, COM Complete, ERR Error, ABT Aborted, OTH an app's custom
# status (Tethys' ``job.status = "..."``; set_status never moves a job into it).
_ON_SCHEDULER = {"SUB", "RUN", "VAR", "PAS", "VCP", "RES", "COM", "ERR", "ABT"}
ALLOWED: dict[str, set[str]] = {
    "PEN": {"SUB", "ERR", "ABT"},
    "SUB": _ON_SCHEDULER - {"SUB"},
    # An evicted HTCondor job is idle again: Running -> Submitted is real.
    "RUN": _ON_SCHEDULER - {"RUN"},
    "VAR": _ON_SCHEDULER - {"VAR"},
    "PAS": _ON_SCHEDULER - {"PAS"},
    # Some nodes done, others still to run: never back to Submitted or Paused.
    "VCP": {"RUN", "VAR", "RES", "COM", "ERR", "ABT"},
    # The work is done; only the results callback's outcome is left.
    "RES": {"COM", "ERR"},
    "COM": set(),
    "ERR": set(),
    "ABT": set(),
    # After an app's own status, any real status may follow (not Pending).
    "OTH": _ON_SCHEDULER,
}
FORBIDDEN_EXAMPLES = [
    ("RES", "RUN"),
    ("RES", "SUB"),
    ("COM", "RUN"),
    ("ERR", "COM"),
    ("ABT", "SUB"),
    ("PEN", "RUN"),
    ("PEN", "COM"),
    ("VCP", "SUB"),
    ("RUN", "OTH"),
    ("OTH", "PEN"),
]


def test_the_written_out_table_covers_every_status() -> None:
    assert set(ALLOWED) == set(ALL)
    for current, new in FORBIDDEN_EXAMPLES:
        assert new not in ALLOWED[current]


def job_in(status: str, manager: JobManager, user: Any) -> Job:
    job = manager.create_job("j", user, "BASIC")
    Job.objects.filter(pk=job.pk).update(status_code=status)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(("current", "new"), list(itertools.permutations(ALL, 2)))
def test_every_transition_is_allowed_or_refused_as_written_out_here(
    current: str, new: str, manager: JobManager, user: Any
) -> None:
    job = job_in(current, manager, user)
    version = job.status_version
    assert can_transition(current, new) == (new in ALLOWED[current])
    if new in ALLOWED[current]:
        change = job.set_status(new)
        assert change.applied
        job.refresh_from_db()
        assert (job.status_code, job.status_version) == (new, version + 1)
        assert job.status_changed_at is not None
    else:
        with pytest.raises(InvalidStatusTransition):
            job.set_status(new)
        job.refresh_from_db()
        assert (job.status_code, job.status_version) == (current, version)


def test_final_statuses_are_left_only_by_reset(manager: JobManager, user: Any) -> None:
    assert set(FINAL_STATUSES) == {"COM", "ERR", "ABT"}
    for status in FINAL_STATUSES:
        assert not ALLOWED[status]
        job = job_in(status, manager, user)
        reset(job)
        job.refresh_from_db()
        assert job.status_code == JobStatus.PENDING
        assert job.completion_time is None


def test_reset_refuses_an_active_job(manager: JobManager, user: Any) -> None:
    for status in ACTIVE_STATUSES:
        job = job_in(status, manager, user)
        with pytest.raises(InvalidStatusTransition, match="stop"):
            reset(job)


def test_stale_poll_never_overwrites_a_newer_push(manager: JobManager, user: Any) -> None:
    job = job_in(JobStatus.RUNNING, manager, user)
    snapshot = Job.objects.get(pk=job.pk)  # what a poll read before its round trip
    # A push lands meanwhile: the job is complete.
    assert apply_status(Job.objects.get(pk=job.pk), JobStatus.COMPLETE).applied
    # The poll's answer (still running at the time it asked) is stale.
    change = apply_status(snapshot, JobStatus.VARIOUS, expected_version=snapshot.status_version)
    assert not change.applied and change.reason == "stale"
    assert Job.objects.get(pk=job.pk).status_code == JobStatus.COMPLETE


def test_times_follow_the_status(manager: JobManager, user: Any) -> None:
    job = manager.create_job("j", user, "BASIC")
    job.execute()
    assert job.status == "Submitted" and job.execute_time is not None
    job.set_status("Running")
    assert job.start_time is not None and job.completion_time is None
    started = job.start_time
    job.set_status("Various")
    assert job.start_time == started
    job.set_status("Complete")
    job.refresh_from_db()
    assert job.completion_time is not None and job.start_time == started
    assert job.run_time is not None


def test_status_reads_are_stored_values_and_names_work(manager: JobManager, user: Any) -> None:
    job = manager.create_job("j", user, "BASIC")
    assert job.status == "Pending"
    job.status = "SUB"
    assert BasicJob.objects.get(pk=job.pk).status == "Submitted"
    assert parse_status("results-ready") is JobStatus.RESULTS_READY
    with pytest.raises(InvalidArgumentError, match="not a job status"):
        parse_status("finished-ish")
    assert can_transition("PEN", "SUB") and not can_transition("PEN", "RUN")


def test_a_final_status_clears_the_last_refresh_problem(manager: JobManager, user: Any) -> None:
    job = job_in(JobStatus.RUNNING, manager, user)
    Job.objects.filter(pk=job.pk).update(refresh_error="Scheduler 'x' unreachable: refused")
    job.refresh_from_db()
    assert apply_status(job, JobStatus.ABORTED, message="stopped").applied
    job.refresh_from_db()
    assert job.refresh_error == ""  # the page no longer shows an old "unreachable"
