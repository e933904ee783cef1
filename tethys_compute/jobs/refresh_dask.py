"""The Dask half of the refresher: one ``run_on_scheduler`` call per scheduler.

:func:`dask_query` sends a small probe (:func:`_make_state_probe`) that
returns the state, error text and start/stop times of every tracked task key;
:func:`dask_status` and :func:`dask_times` say what they mean for a job, and
``apply_dask`` writes them with versioned updates.  The refresh loop itself is
:mod:`tethys_compute.jobs.refresh`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from tethys_compute.dask_client import scheduler_call
from tethys_compute.dask_code import explain
from tethys_compute.jobs.results import finished_well
from tethys_compute.jobs.status import (
    FINISHED_STATUSES,
    JobStatus,
    apply_status,
)
from tethys_compute.models.job import Job

if TYPE_CHECKING:
    pass


# The logger of the module these came from, so logging configurations keep working.
logger = logging.getLogger("tethys_compute.jobs.refresh")


def _make_state_probe() -> Callable[..., dict[str, tuple[Any, ...]]]:
    # Nested on purpose: cloudpickle sends it by value, so the scheduler need
    # not be able to import tethys_compute.
    def probe(keys: list[str], dask_scheduler: Any = None) -> dict[str, tuple[Any, ...]]:
        answer: dict[str, tuple[Any, ...]] = {}
        wanted = set()
        for key in keys:
            task = dask_scheduler.tasks.get(key)
            if task is None:
                answer[key] = (None, "", None, None)
            else:
                text = getattr(task, "exception_text", "") or ""
                answer[key] = (task.state, str(text)[:1000], None, None)
                wanted.add(key)
        # The real start and end: the scheduler's transition log (one scan for all keys),
        # the last move to "processing" and the last move to "memory" or "erred".
        if wanted:
            try:
                story = dask_scheduler.story(*wanted)
            except Exception:  # noqa: BLE001 - the times are optional
                story = []
            times: dict[str, list[Any]] = {}
            for entry in story:
                key, finish, stamp = entry[0], entry[2], entry[-1]
                if key not in wanted or not isinstance(stamp, (int, float)):
                    continue
                slot = times.setdefault(key, [None, None])
                if finish == "processing":
                    slot[0], slot[1] = stamp, None
                elif finish in ("memory", "erred"):
                    slot[1] = stamp
            for key, (started, stopped) in times.items():
                state, text = answer[key][:2]
                answer[key] = (state, text, started, stopped)
        return answer

    return probe


def dask_times(started: Any, stopped: Any) -> dict[str, datetime]:
    """``start_time``/``completion_time`` from the scheduler's epoch seconds (those known).

    Examples
    --------
    >>> sorted(dask_times(0.0, None))
    ['start_time']
    """
    fields: dict[str, datetime] = {}
    for name, value in (("start_time", started), ("completion_time", stopped)):
        if isinstance(value, (int, float)):
            fields[name] = datetime.fromtimestamp(float(value), tz=UTC)
    return fields


def dask_status(state: str | None, text: str, finished_well: str) -> tuple[str, str]:
    """A job status for a Dask task state (as the scheduler reports it).

    Examples
    --------
    >>> dask_status("processing", "", "COM")
    (JobStatus.RUNNING, '')
    >>> dask_status("memory", "", "RES")
    ('RES', '')
    """
    if state is None or state == "forgotten":
        return JobStatus.ERROR, (
            "The Dask scheduler no longer knows this task (was it restarted?); resubmit the job."
        )
    if state == "memory":
        return finished_well, ""
    if state == "erred":
        return JobStatus.ERROR, text or "The task failed."
    if state == "processing":
        return JobStatus.RUNNING, ""
    return JobStatus.SUBMITTED, ""


def dask_query(scheduler: Any, jobs: Sequence[Job], timeout: float) -> dict[str, Any]:
    """``(state, exception text)`` of every task key of ``jobs``: ONE ``run_on_scheduler``."""
    keys = sorted({str(getattr(j, "key", "")) for j in jobs} - {""})
    if not keys:
        return {}
    client = scheduler.get_client(timeout=timeout)
    answer = scheduler_call(
        client, "run_on_scheduler", _make_state_probe(), keys, callback_timeout=timeout
    )
    return dict(answer)


def apply_dask(jobs: Sequence[Job], states: dict[str, Any]) -> int:
    changed = 0
    for job in jobs:
        key = getattr(job, "key", "")
        if not key or key not in states:
            continue
        state, text, started, stopped = (*states[key], None, None)[:4]
        status, message = dask_status(state, text, finished_well(job))
        if status == JobStatus.ERROR:
            message = explain(message, str(getattr(job, "function", "")))
        times: dict[str, Any] = dict(dask_times(started, stopped))
        if status not in FINISHED_STATUSES:
            times.pop("completion_time", None)
        else:
            if "completion_time" not in times:
                times["completion_time"] = timezone.now()
                note = "started and completed are the refresh time: the scheduler forgot them"
                message = f"{message} ({note})" if message else f"Finished ({note})."
            # A start never seen (the task ran between two refreshes): the log's, else the end.
            times["start_time"] = Coalesce(
                F("start_time"), models.Value(times.get("start_time") or times["completion_time"])
            )
        change = apply_status(
            job, status, message=message, expected_version=job.status_version, fields=times
        )
        changed += int(change.applied)
    return changed
