"""Tethys Platform's job status URL: ``update-job-status/<job_id>/``.

A request to it makes the portal ask the job's scheduler for the job's status
(:meth:`~tethys_compute.models.Job.update_status`), now or ``?delay=<seconds>``
later; the answer is ``{"success": true}``, ``{"success": "scheduled"}`` or
``{"success": false}`` (no such job, or a bad delay).  As in Tethys, it needs
no login: it takes no status from the caller and shows nothing of the job; a
job that is not active, or whose scheduler was asked less than
``update_status_interval`` ago (by anyone: the last good refresh counts), is
not asked again.  Jobs that *report* their status use the signed URLs of
:mod:`tethys_compute.jobs.callbacks` instead.

:meth:`~tethys_compute.jobs.manager.JobManager.get_job_status_callback_url`
gives a job's absolute URL.
"""

from __future__ import annotations

import logging
import threading

from django.db import connections
from django.http import HttpRequest, JsonResponse

from tethys_compute.exceptions import TethysComputeError
from tethys_compute.models.job import Job

logger = logging.getLogger(__name__)

__all__ = ["MAX_DELAY", "MAX_SCHEDULED", "update_job_status"]

#: The longest ``?delay=`` accepted, in seconds.
MAX_DELAY = 3600
#: How many delayed status updates may wait at the same time in one process.
MAX_SCHEDULED = 100

_scheduled = threading.BoundedSemaphore(MAX_SCHEDULED)


def _update(job_id: int) -> bool:
    job = Job.objects.filter(pk=job_id).select_subclasses().first()
    if job is None:
        return False
    try:
        job.update_status()
    except (TethysComputeError, OSError) as exc:
        logger.warning("Job %s: status update failed: %s", job_id, exc)
        return False
    return True


def _delayed_update(job_id: int) -> None:
    try:
        _update(job_id)
    except Exception:  # noqa: BLE001 - a timer thread must not die loudly
        logger.exception("Job %s: delayed status update failed", job_id)
    finally:
        _scheduled.release()
        # This timer thread's own database connections (they are per thread).
        connections.close_all()


def update_job_status(request: HttpRequest, job_id: str) -> JsonResponse:
    """The view of ``update-job-status/<job_id>/`` (``?delay=<seconds>`` optional)."""
    try:
        pk = int(job_id)
    except ValueError:
        return JsonResponse({"success": False})
    delay = request.GET.get("delay")
    if not delay:
        return JsonResponse({"success": _update(pk)})
    try:
        seconds = float(delay)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_DELAY:
        logger.info("Job %s: status update refused: delay %r not in 0..%d", pk, delay, MAX_DELAY)
        return JsonResponse({"success": False})
    if not _scheduled.acquire(blocking=False):
        logger.warning("Job %s: %d status updates already wait; refused", pk, MAX_SCHEDULED)
        return JsonResponse({"success": False})
    timer = threading.Timer(seconds, _delayed_update, args=(pk,))
    timer.daemon = True
    timer.start()
    return JsonResponse({"success": "scheduled"})
