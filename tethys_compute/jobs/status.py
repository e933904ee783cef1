"""The one state model of every job kind, and updates that never go backwards.

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
them, by starting the job over at ``PEN`` (:func:`reset`).

Versioned updates
-----------------
Every status change is one conditional ``UPDATE ... WHERE id = %s AND
status_version = %s`` that also increments ``status_version``.  A writer
first reads the version it bases its decision on; if anyone changed the job
in between, its update matches no row:

* a **poll** (the refresher) reads the versions of the jobs *before* its
  remote round trip and gives up on a job whose version moved (a push or a
  user action got there first, and is newer than what the poll saw);
* a **push** or a user action describes the present, so it re-reads and
  tries again (a bounded number of times), checking the transition again.

So a stale poll can never overwrite a newer pushed status, and no update can
leave a final status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from tethys_compute.exceptions import InvalidArgumentError, InvalidStatusTransition

if TYPE_CHECKING:
    from tethys_compute.models.job import Job

logger = logging.getLogger(__name__)

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "JobStatus",
    "StatusChange",
    "TRANSITIONS",
    "WAITING_STATUSES",
    "apply_status",
    "can_transition",
    "parse_status",
    "reset",
]

#: How many times a push or user update re-reads and retries after losing a race.
MAX_ATTEMPTS = 5


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


@dataclass(frozen=True)
class StatusChange:
    """The outcome of :func:`apply_status`.

    Attributes
    ----------
    applied : bool
        True when the row was changed.
    status : str
        The job's status after the call (the new one, or the one that stayed).
    version : int
        The job's ``status_version`` after the call.
    reason : str
        Why nothing changed, when ``applied`` is False: ``"unchanged"``,
        ``"not allowed"`` or ``"stale"``.
    """

    applied: bool
    status: str
    version: int
    reason: str = ""


def _timestamps(new: str, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if new in (S.RUNNING, S.VARIOUS, S.VARIOUS_COMPLETE):
        values["start_time"] = Coalesce(F("start_time"), models.Value(now))
    if new in FINISHED_STATUSES:
        values["completion_time"] = Coalesce(F("completion_time"), models.Value(now))
    if new in FINAL_STATUSES:
        # A final job is no longer refreshed: an old "unreachable" note would mislead.
        values["refresh_error"] = ""
    return values


def apply_status(
    job: Job,
    new: str | JobStatus,
    *,
    message: str | None = None,
    expected_version: int | None = None,
    strict: bool = False,
    fields: Mapping[str, Any] | None = None,
) -> StatusChange:
    """Move ``job`` to ``new`` with a conditional update; never backwards.

    Parameters
    ----------
    job : Job
        The job (any kind); its in-memory status fields follow the database.
    new : str or JobStatus
        The new status (code, name or display name).
    message : str, optional
        The new ``status_message``; None keeps the current one.
    expected_version : int, optional
        For a poll: the ``status_version`` the decision was based on.  The
        update happens only if the row still has it (one attempt).  None: read
        the current version and retry up to :data:`MAX_ATTEMPTS` times when
        another writer wins the race (pushes and user actions).
    strict : bool
        Raise :class:`InvalidStatusTransition` for a move that is not allowed
        (user actions) instead of returning ``applied=False`` (polls, pushes).
    fields : mapping, optional
        More columns of the base job row to set in the same UPDATE.

    Returns
    -------
    StatusChange

    Raises
    ------
    InvalidStatusTransition
        With ``strict=True``, for a move :data:`TRANSITIONS` does not allow.
    """
    from tethys_compute.models.job import Job

    target = parse_status(new).value
    table = Job.objects.filter(pk=job.pk)
    attempts = 1 if expected_version is not None else MAX_ATTEMPTS
    for _ in range(attempts):
        if expected_version is not None:
            current, version = job.status_code, expected_version
        else:
            row = table.values_list("status_code", "status_version").first()
            if row is None:
                raise InvalidArgumentError(f"Job {job.pk} no longer exists.")
            current, version = row
        if current == target:
            changes: dict[str, Any] = dict(fields or {})
            if message is not None and message[:2000] != job.status_message:
                changes["status_message"] = message[:2000]
            if changes:
                table.filter(status_version=version).update(**changes)
            # Another writer may have got here first: take its fields (times too).
            _reload_status(job)
            return StatusChange(False, current, version, "unchanged")
        if not can_transition(current, target):
            if strict:
                raise InvalidStatusTransition(
                    f"Job {job.pk} ({job.name!r}) is {JobStatus(current).label} and cannot "
                    f"become {JobStatus(target).label}"
                    + (
                        "; call resubmit() to start it over."
                        if current in FINAL_STATUSES
                        else f"; from {JobStatus(current).label} it can become: "
                        + ", ".join(JobStatus(s).label for s in sorted(TRANSITIONS[current]))
                        + "."
                    )
                )
            _reload_status(job)
            return StatusChange(False, current, version, "not allowed")
        now = timezone.now()
        values: dict[str, Any] = {
            "status_code": target,
            "status_version": version + 1,
            "status_changed_at": now,
            **_timestamps(target, now),
            **(fields or {}),
        }
        if message is not None:
            values["status_message"] = message[:2000]
        if table.filter(status_version=version).update(**values):
            _reload_status(job)
            logger.info("Job %s: %s -> %s", job.pk, current, target)
            return StatusChange(True, target, version + 1)
    if expected_version is None:
        logger.warning("Job %s: gave up on %s after %d lost races", job.pk, target, attempts)
    _reload_status(job)
    return StatusChange(False, job.status_code, job.status_version, "stale")


_STATUS_FIELDS = (
    "status_code",
    "status_version",
    "status_changed_at",
    "status_message",
    "start_time",
    "completion_time",
)


def _reload_status(job: Job) -> None:
    row = type(job).objects.filter(pk=job.pk).values(*_STATUS_FIELDS).first()
    if row:
        for name, value in row.items():
            setattr(job, name, value)


def reset(job: Job, *, fields: Mapping[str, Any] | None = None) -> None:
    """Start ``job`` over at ``PEN`` (what ``resubmit()`` does after stopping it).

    Clears the message, the start and completion times and the cached logs,
    and increments the version, so any poll or push based on the previous run
    is stale.

    Raises
    ------
    InvalidStatusTransition
        When the job is still active on its scheduler (stop it first).
    """
    from tethys_compute.models.job import Job

    table = Job.objects.filter(pk=job.pk)
    for _ in range(MAX_ATTEMPTS):
        row = table.values_list("status_code", "status_version").first()
        if row is None:
            raise InvalidArgumentError(f"Job {job.pk} no longer exists.")
        current, version = row
        if current in ACTIVE_STATUSES:
            raise InvalidStatusTransition(
                f"Job {job.pk} is {JobStatus(current).label}; stop() it before starting it over."
            )
        values: dict[str, Any] = {
            "status_code": S.PENDING,
            "status_version": version + 1,
            "status_changed_at": timezone.now(),
            "status_message": "",
            "start_time": None,
            "completion_time": None,
            "execute_time": None,
            "logs": None,
            "refresh_error": "",
            "results_attempts": 0,
            "results_retry_at": None,
            **(fields or {}),
        }
        if table.filter(status_version=version).update(**values):
            for name, value in values.items():
                setattr(job, name, value)
            return
    raise InvalidStatusTransition(f"Job {job.pk} kept changing; try resubmit() again.")
