"""Dask jobs report themselves: a done callback on the future, in the submitting process.

:func:`watch_dask_future` waits on the client's event loop and queues the
report for one small thread (:data:`_push_executor`).  That thread takes every
report queued so far: those of tasks that finished well are recorded together
(:func:`~tethys_compute.jobs.dask_finish.finish_many`: one read, two scheduler
calls, one transaction); any other report (an error, a job with a results
callback, a job that changed meanwhile) is written like an HTTP push
(:func:`~tethys_compute.jobs.pushes.record_push`), then its result is stored
and the task's own start and end times are recorded.
"""

from __future__ import annotations

import collections
import concurrent.futures
import concurrent.futures.thread
import logging
import sys
import threading
import time
from typing import TYPE_CHECKING

from django.db import close_old_connections

from tethys_compute.dask_client import scheduler_call
from tethys_compute.dask_code import explain
from tethys_compute.jobs.callback_tokens import CallbackRejected
from tethys_compute.jobs.dask_finish import Report, finish_many
from tethys_compute.jobs.pushes import record_push
from tethys_compute.jobs.refresh_dask import _make_state_probe, dask_times
from tethys_compute.jobs.status import (
    JobStatus,
)
from tethys_compute.models.job import Job, _live_futures, remote_traceback

if TYPE_CHECKING:
    from distributed import Future

# The logger of the module these came from, so logging configurations keep working.
logger = logging.getLogger("tethys_compute.jobs.callbacks")

# --------------------------------------------------------------------------
# Dask: the done callback
# --------------------------------------------------------------------------
_push_executor = concurrent.futures.ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="tethys-job-push"
)
#: Reports waiting for the push thread (the event loop appends, the thread takes).
_queued: collections.deque[Report] = collections.deque()
_queued_lock = threading.Lock()
#: At most this many reports are recorded together.
_MOST_AT_ONCE = 2000


def _take_queued() -> list[Report]:
    with _queued_lock:
        count = min(len(_queued), _MOST_AT_ONCE)
        return [_queued.popleft() for _ in range(count)]


def _record_queued() -> None:
    """Runs on the push thread: every report queued so far, together where it can."""
    reports = _take_queued()
    if not reports:
        return
    by_client: dict[int, list[Report]] = {}
    for report in reports:
        by_client.setdefault(id(report.future.client), []).append(report)
    for group in by_client.values():
        try:
            alone = finish_many(group)
        except Exception:  # noqa: BLE001 - the one-by-one path still records each
            logger.exception("%d Dask jobs: recording them together failed", len(group))
            alone = group
        for report in alone:
            _dask_report(report.job_id, report.key, report.future)
    close_old_connections()


def _dask_report(job_id: int, key: str, future: Future) -> None:
    """Runs on a small thread (not the Dask event loop): the database write."""
    try:
        state = future.status
        if state == "finished":
            data = {"seq": 1, "source": "dask", "status": "exited", "exit_code": 0}
        elif state == "cancelled":
            # stop() records Aborted itself; a future cancelled because the client lost
            # the scheduler says nothing about the task: the refresher will find out.
            return
        else:
            exc = future.exception(timeout=5)
            function = Job.objects.filter(pk=job_id).values_list("daskjob__function", flat=True)
            message = explain(f"{type(exc).__name__}: {exc}", function.first() or "")[:2000]
            data = {"seq": 1, "source": "dask", "status": JobStatus.ERROR, "message": message}
        outcome = record_push(job_id, key, data)
        if state not in ("finished", "cancelled"):
            # The remote traceback, while this process still holds the future.
            logs = {"stdout": "", "stderr": remote_traceback(future, message)}
            Job.objects.filter(pk=job_id, logs__isnull=True).update(logs=logs)
        _record_dask_times(job_id, key, future)
        if outcome.status == JobStatus.RESULTS_READY:
            _process_dask_results(job_id, future)
    except CallbackRejected as exc:
        if exc.http_status == 410:
            # result() (or the refresher) recorded the end first: nothing left to do.
            logger.debug("Dask job %s: finished already when its done callback ran", job_id)
        else:
            logger.info("Dask job %s: done callback not applied: %s", job_id, exc)
    except Exception:  # noqa: BLE001 - the refresher will catch up; never kill the thread
        logger.exception("Dask job %s: done callback failed", job_id)
    finally:
        _live_futures.pop(str(future.key), None)
        close_old_connections()


def _process_dask_results(job_id: int, future: Future) -> None:
    """Store a finished Dask job's result now (Tethys Platform: ``job.result`` is stored)."""
    job = Job.objects.filter(pk=job_id).select_subclasses().first()
    if job is not None and job.status_code == JobStatus.RESULTS_READY:
        if not getattr(job, "key", ""):
            # A task that was done when execute() was given it reports before
            # execute() has saved its key (it is published already).
            job.key = str(future.key)  # type: ignore[attr-defined]
        job.process_results()


def _record_dask_times(job_id: int, key: str, future: Future) -> None:
    """Replace the push's clock times by the task's own start and end (best effort).

    One short ``run_on_scheduler`` reading the scheduler's transition log;
    without an answer the times of the push stay.
    """
    task = str(future.key)
    try:
        answer = scheduler_call(
            future.client, "run_on_scheduler", _make_state_probe(), [task], callback_timeout=5
        )
    except Exception as exc:  # noqa: BLE001 - the push's times are kept
        logger.info("Dask job %s: task times not available: %s", job_id, exc)
        return
    _state, _text, started, stopped = answer.get(task, (None, "", None, None))
    times = dask_times(started, stopped)
    if times:
        # Only this run's row (the key changes on resubmit), once it has finished.
        Job.objects.filter(pk=job_id, callback_key=key, completion_time__isnull=False).update(
            **times
        )


def _interpreter_exiting() -> bool:
    return sys.is_finalizing() or bool(getattr(concurrent.futures.thread, "_shutdown", False))


def watch_dask_future(job: Job, future: Future) -> None:
    """Report ``future``'s outcome to ``job`` as soon as it is done (in this process).

    When the process is exiting (a script ended while its job runs), the
    report is skipped quietly: the refresher records the outcome.
    """
    job_id, key = int(job.pk), job.callback_key

    def done(fut: Future) -> None:
        # Runs on the client's event loop: only hands the report to our thread.
        if _interpreter_exiting():
            return
        with _queued_lock:
            _queued.append(Report(job_id, key, fut))
        try:
            _push_executor.submit(_record_queued)
        except RuntimeError:
            # "cannot schedule new futures after interpreter shutdown": the refresher
            # picks the job up.
            logger.debug("Dask job %s: exiting; the refresher records the outcome", job_id)

    async def wait_then_report() -> None:
        # Future.add_done_callback would hand ``done`` to distributed's own thread pool,
        # whose submit fails (logged by tornado as an error) once the interpreter exits.
        while future.status == "pending":
            await future._state.wait()  # type: ignore[union-attr]
        done(future)

    future.client.loop.add_callback(wait_then_report)


def drain_pushes(timeout: float = 10.0) -> bool:
    """Wait (bounded) until the pushes queued so far are written; True when they are."""
    marker = _push_executor.submit(time.sleep, 0)
    try:
        marker.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return False
    return True
