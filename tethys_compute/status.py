"""The one state model of every job kind: statuses and where each may go.

Core: no Django model, no I/O; the versioned updates that use it are in
:mod:`tethys_compute.models.status_update`, and both are re-exported from
:mod:`tethys_compute.jobs.status` (their public path).

Statuses
--------
Tethys Platform's three-letter codes are kept (apps filter on them):

========  ==================  ==============================================
code      name                meaning
========  ==================  ==============================================
``PEN``   Pending             created, not submitted yet
``SUB``   Submitted           accepted by the scheduler, waiting to run
``RUN``   Running             running
``VAR``   Various             several parts (procs, DAG nodes) in different states
``PAS``   Paused              held (``condor_hold``) or paused by the app
``VCP``   Various-Complete    every part finished, the whole not yet
``RES``   Results-Ready       finished well; results not processed yet
``COM``   Complete            finished well (and results processed)
``ERR``   Error               failed, or could not be submitted (message says why)
``ABT``   Aborted             stopped (``stop()``, ``condor_rm``, cancelled)
``OTH``   Other               an app's own status (Tethys' custom statuses; the
                              name is in ``extended_properties``)
========  ==================  ==============================================

:data:`TRANSITIONS` lists where each status may go.  ``COM``, ``ERR`` and
``ABT`` are final: only :meth:`~tethys_compute.models.Job.resubmit` leaves
them, by starting the job over at ``PEN``
(:func:`~tethys_compute.jobs.status.reset`).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import models

from tethys_compute.exceptions import InvalidArgumentError

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "FINISHED_STATUSES",
    "JobStatus",
    "S",
    "TRANSITIONS",
    "WAITING_STATUSES",
    "can_transition",
    "parse_status",
]


class JobStatus(models.TextChoices):
    """A job's status; the value is Tethys Platform's three-letter code."""

    PENDING = "PEN", "Pending"
    SUBMITTED = "SUB", "Submitted"
    RUNNING = "RUN", "Running"
    VARIOUS = "VAR", "Various"
    PAUSED = "PAS", "Paused"
    VARIOUS_COMPLETE = "VCP", "Various-Complete"
    RESULTS_READY = "RES", "Results-Ready"
    COMPLETE = "COM", "Complete"
    ERROR = "ERR", "Error"
    ABORTED = "ABT", "Aborted"
    OTHER = "OTH", "Other"


S = JobStatus

#: On a scheduler and not finished: what the refresher asks about.
ACTIVE_STATUSES: frozenset[str] = frozenset(
    {S.SUBMITTED, S.RUNNING, S.VARIOUS, S.PAUSED, S.VARIOUS_COMPLETE}
)
#: Active, or finished well and waiting for the results callback ("active" in lists).
WAITING_STATUSES: frozenset[str] = ACTIVE_STATUSES | {S.RESULTS_READY}
#: Statuses only :func:`reset` (``resubmit()``) leaves.
FINAL_STATUSES: frozenset[str] = frozenset({S.COMPLETE, S.ERROR, S.ABORTED})
#: Statuses that mean "finished on the scheduler" (completion time is set).
FINISHED_STATUSES: frozenset[str] = FINAL_STATUSES | {S.RESULTS_READY}

_AFTER_SUBMIT = frozenset(
    {S.SUBMITTED, S.RUNNING, S.VARIOUS, S.PAUSED, S.VARIOUS_COMPLETE, S.RESULTS_READY, S.COMPLETE}
) | {S.ERROR, S.ABORTED}

#: Allowed moves.  ``RUN -> SUB`` is real (an evicted HTCondor job is idle again).
TRANSITIONS: Mapping[str, frozenset[str]] = {
    S.PENDING: frozenset({S.SUBMITTED, S.ERROR, S.ABORTED}),
    S.SUBMITTED: _AFTER_SUBMIT - {S.SUBMITTED},
    S.RUNNING: _AFTER_SUBMIT - {S.RUNNING},
    S.VARIOUS: _AFTER_SUBMIT - {S.VARIOUS},
    S.PAUSED: _AFTER_SUBMIT - {S.PAUSED},
    S.VARIOUS_COMPLETE: frozenset(
        {S.RUNNING, S.VARIOUS, S.RESULTS_READY, S.COMPLETE, S.ERROR, S.ABORTED}
    ),
    S.RESULTS_READY: frozenset({S.COMPLETE, S.ERROR}),
    S.COMPLETE: frozenset(),
    S.ERROR: frozenset(),
    S.ABORTED: frozenset(),
    # An app's custom status (set with ``job.status = "..."``); the refresher
    # does not poll it, any real status may follow it.
    S.OTHER: frozenset(set(JobStatus) - {S.PENDING, S.OTHER}),
}

_BY_NAME = {label.lower(): value for value, label in JobStatus.choices}
_BY_NAME.update({m.name.lower(): m.value for m in JobStatus})
_BY_NAME.update({"results_ready": S.RESULTS_READY, "various_complete": S.VARIOUS_COMPLETE})


def parse_status(value: str | JobStatus) -> JobStatus:
    """Return the :class:`JobStatus` for a code, a name or a Tethys display name.

    Examples
    --------
    >>> parse_status("RUN"), parse_status("Complete"), parse_status("results-ready")
    (JobStatus.RUNNING, JobStatus.COMPLETE, JobStatus.RESULTS_READY)
    """
    if isinstance(value, JobStatus):
        return value
    text = str(value).strip()
    if text.upper() in JobStatus.values:
        return JobStatus(text.upper())
    found = _BY_NAME.get(text.lower().replace(" ", "_")) or _BY_NAME.get(text.lower())
    if found is None:
        raise InvalidArgumentError(
            f"{value!r} is not a job status; use one of "
            + ", ".join(f"{v} ({label})" for v, label in JobStatus.choices)
            + "."
        )
    return JobStatus(found)


def can_transition(current: str, new: str) -> bool:
    """True when a job in ``current`` may move to ``new`` (staying put is not a move).

    Examples
    --------
    >>> can_transition("RUN", "COM"), can_transition("COM", "RUN")
    (True, False)
    """
    return new in TRANSITIONS.get(current, frozenset())
