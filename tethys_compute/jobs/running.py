"""Dask jobs become Running when their task starts, pushed by the scheduler.

:func:`watch_task_starts` subscribes a client (once) to the scheduler's
task-start events (:mod:`tethys_compute.dask_events`); each event moves the
Dask job whose task it is from Submitted to Running with a versioned update
(never backwards: a finished job stays finished).  The events are queued for
the push thread, which takes every event queued so far and records them
with one read and one update (:func:`_record_started`); an event whose job
has no stored key yet is recorded on its own, waiting a little for
``execute()`` to store it.  The refresher still finds Running for jobs whose
process was not listening.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING

from django.db import close_old_connections
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from tethys_compute.dask_events import KEY_PREFIX, subscribe_task_starts
from tethys_compute.jobs.batch_sql import chunks, param_limit, versions_match
from tethys_compute.jobs.dask_reports import _push_executor
from tethys_compute.jobs.refresh_dask import _make_state_probe
from tethys_compute.jobs.status import JobStatus, apply_status
from tethys_compute.models.job import DaskJob, Job, _live_futures

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["running_already", "watch_task_starts"]

logger = logging.getLogger(__name__)

#: Clients already subscribed (a client is the process's cached one per scheduler).
_watched: weakref.WeakSet[Client] = weakref.WeakSet()
_lock = threading.Lock()
#: How long an event waits for execute() to store the job's task key.
KEY_WAIT = 2.0
#: Task keys whose start was reported, waiting for the push thread.
_started: collections.deque[str] = collections.deque()
_started_lock = threading.Lock()
#: The statuses a started task's job moves from.
_BEFORE = (JobStatus.PENDING, JobStatus.SUBMITTED)


def watch_task_starts(client: Client, timeout: float) -> None:
    """Make ``client``'s scheduler push task starts to this process (once per client)."""
    with _lock:
        if client in _watched:
            return
        _watched.add(client)
    try:
        subscribe_task_starts(client, _on_start, timeout)
    except Exception as exc:  # noqa: BLE001 - the refresher finds Running anyway
        logger.info("Task-start events unavailable (%s); the refresher reports Running", exc)


def running_already(client: Client, task_key: str) -> None:
    """Record Running if ``task_key`` is already processing (one bounded round trip).

    For work given as a future or a ``dask.delayed`` object: its task can start
    before ``execute()`` publishes it, and then no task-start event names it.
    """
    try:
        answer = client.run_on_scheduler(_make_state_probe(), [task_key], callback_timeout=5)
    except Exception as exc:  # noqa: BLE001 - the refresher finds Running anyway
        logger.info("Dask task %s: state not available (%s)", task_key, exc)
        return
    if (answer.get(task_key) or (None,))[0] == "processing":
        _on_start(task_key, time.time())


def _on_start(task_key: str, stamp: float) -> None:
    # On the client's event loop: hand the database write to the push thread.
    with _started_lock:
        _started.append(task_key)
    try:
        _push_executor.submit(_record_started)
    except RuntimeError:
        logger.debug("exiting; the refresher records Running of %s", task_key)


def _job_id(task_key: str) -> int | None:
    """The job id in a function job's task key (``tethys-job-<id>-<run>``), else None."""
    parts = task_key.split("-")
    if task_key.startswith(KEY_PREFIX) and len(parts) >= 4 and parts[2].isdigit():
        return int(parts[2])
    return None


def _record_started() -> None:
    """Runs on the push thread: every start queued so far, together where it can."""
    with _started_lock:
        keys = list(dict.fromkeys(_started.popleft() for _ in range(min(len(_started), 2000))))
    if not keys:
        return
    try:
        alone = _running_together(keys)
    except Exception:  # noqa: BLE001 - each is still recorded on its own
        logger.exception("%d Dask tasks: recording Running together failed", len(keys))
        alone = keys
    finally:
        close_old_connections()
    for key in alone:
        _record_running(key)


def _running_together(keys: list[str]) -> list[str]:
    """Running for the jobs of ``keys`` still before it (one read, one update per chunk).

    Returns the keys left to the one-by-one path: those no stored job has
    (yet), and those whose job changed between the read and the update.
    """
    found: dict[str, tuple[int, int]] = {}
    limit = param_limit(Job.objects.db)
    for part in chunks(keys, limit - 10):
        rows = DaskJob.objects.filter(key__in=part, status_code__in=_BEFORE)
        for pk, key, version in rows.values_list("pk", "key", "status_version"):
            found[key] = (pk, version)
    # Jobs past Running already (a key stored meanwhile, still before it, is not among them).
    finished_or_other = {
        key
        for part in chunks([k for k in keys if k not in found], limit - 10)
        for key in DaskJob.objects.filter(key__in=part)
        .exclude(status_code__in=_BEFORE)
        .values_list("key", flat=True)
    }
    now = timezone.now()
    moved: list[str] = []
    for part in chunks(list(found), limit // 3):
        versions = {found[key][0]: found[key][1] for key in part}
        changed = (
            Job.objects.filter(status_code__in=_BEFORE)
            .filter(versions_match(versions))
            .update(
                status_code=JobStatus.RUNNING,
                status_version=F("status_version") + 1,
                status_changed_at=now,
                status_message="",
                start_time=Coalesce(F("start_time"), Value(now)),
            )
        )
        if changed != len(part):
            moved.extend(part)
    if found:
        logger.info("%d Dask jobs: Running", len(found) - len(moved))
    # A job that moved meanwhile gets its own, re-reading attempt (it may be finished).
    return [k for k in keys if k not in found and k not in finished_or_other] + moved


def _record_running(task_key: str) -> None:
    try:
        job_id = _job_id(task_key)
        if job_id is None and task_key not in _live_futures:
            return  # a published task another process executed: that process records it
        query = DaskJob.objects.filter(key=task_key)
        job = query.first()
        # A task may start before execute() has stored its key: wait a little (bounded),
        # only while the job it names exists.
        deadline = time.monotonic() + KEY_WAIT
        while job is None and time.monotonic() < deadline:
            if job_id is not None and not DaskJob.objects.filter(pk=job_id).exists():
                return
            time.sleep(0.05)
            job = query.first()
        if job is None:
            return
        if job.status_code == JobStatus.PENDING:
            apply_status(job, JobStatus.SUBMITTED)
        apply_status(job, JobStatus.RUNNING, message="")
    except Exception:  # noqa: BLE001 - never kill the push thread; the refresher catches up
        logger.exception("Dask task %s: recording Running failed", task_key)
    finally:
        close_old_connections()
