"""Dask jobs report themselves: a done callback on the future, in the submitting process.

:func:`watch_dask_future` waits on the client's event loop and hands the report
to one small thread (:data:`_push_executor`), which writes it like an HTTP
push (:func:`~tethys_compute.jobs.pushes.record_push`), then stores a result
that needs processing and the task's own start and end times.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread
import logging
import sys
import time
from typing import TYPE_CHECKING

from django.db import close_old_connections

from tethys_compute.dask_client import scheduler_call
from tethys_compute.dask_code import explain
from tethys_compute.jobs.callback_tokens import CallbackRejected
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
            _process_dask_results(job_id)
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


def _process_dask_results(job_id: int) -> None:
    """Store a finished Dask job's result now (Tethys Platform: ``job.result`` is stored)."""
    job = Job.objects.filter(pk=job_id).select_subclasses().first()
    if job is not None and job.status_code == JobStatus.RESULTS_READY:
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
        try:
            _push_executor.submit(_dask_report, job_id, key, fut)
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
