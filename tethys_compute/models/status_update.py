"""Versioned status updates of a job's row, which never go backwards.

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

The statuses and :data:`~tethys_compute.status.TRANSITIONS` are in
:mod:`tethys_compute.status`; both modules are re-exported from
:mod:`tethys_compute.jobs.status`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from tethys_compute.exceptions import InvalidArgumentError, InvalidStatusTransition
from tethys_compute.status import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    FINISHED_STATUSES,
    TRANSITIONS,
    JobStatus,
    can_transition,
    parse_status,
)

if TYPE_CHECKING:
    from tethys_compute.models.job import Job

logger = logging.getLogger(__name__)

__all__ = ["MAX_ATTEMPTS", "StatusChange", "apply_status", "reset"]

S = JobStatus

#: How many times a push or user update re-reads and retries after losing a race.
MAX_ATTEMPTS = 5


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
    target = parse_status(new).value
    table = _job_rows(job)
    attempts = 1 if expected_version is not None else MAX_ATTEMPTS
    for _ in range(attempts):
        if expected_version is not None:
            current, version = job.status_code, expected_version
        else:
            current, version = _current(job, table)
        if current == target:
            _update_unchanged(job, table, version, message, fields)
            return StatusChange(False, current, version, "unchanged")
        if not can_transition(current, target):
            if strict:
                raise _refusal(job, current, target)
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


def _job_rows(job: Job) -> models.QuerySet[Any]:
    """The base job row of ``job`` (any kind), looked up by the app registry.

    :mod:`tethys_compute.models.job` imports this module, so it cannot be
    imported back here.
    """
    base = apps.get_model("tethys_compute", "Job")
    return base.objects.filter(pk=job.pk)


def _current(job: Job, table: models.QuerySet[Any]) -> tuple[str, int]:
    row = table.values_list("status_code", "status_version").first()
    if row is None:
        raise InvalidArgumentError(f"Job {job.pk} no longer exists.")
    return row[0], row[1]


def _update_unchanged(
    job: Job,
    table: models.QuerySet[Any],
    version: int,
    message: str | None,
    fields: Mapping[str, Any] | None,
) -> None:
    """Same status: set the message and fields only, then reload the job's status fields."""
    changes: dict[str, Any] = dict(fields or {})
    if message is not None and message[:2000] != job.status_message:
        changes["status_message"] = message[:2000]
    if changes:
        table.filter(status_version=version).update(**changes)
    # Another writer may have got here first: take its fields (times too).
    _reload_status(job)


def _refusal(job: Job, current: str, target: str) -> InvalidStatusTransition:
    """The error of a user action that asks for a move :data:`TRANSITIONS` forbids."""
    return InvalidStatusTransition(
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
    table = _job_rows(job)
    for _ in range(MAX_ATTEMPTS):
        current, version = _current(job, table)
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
