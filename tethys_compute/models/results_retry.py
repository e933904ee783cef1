"""Results callbacks that fail: the job stays Results-Ready and is tried again later.

A job whose work finished well is not lost because its results callback
failed (the refresher runs without the app's code on its path, a database
the callback writes to is down...): the job stays Results-Ready, the error is
recorded in its ``status_message`` with the attempt count and the next try,
and the refresher runs the callback again after a back-off that doubles
(``TETHYS_COMPUTE['RESULTS_RETRY_DELAY']``, at most one hour) for at most
``TETHYS_COMPUTE['RESULTS_MAX_ATTEMPTS']`` attempts.  Error is kept for the
job's own failure.

This module knows nothing of models: it takes the job's numbers and returns
what to store.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tethys_compute.conf import compute_settings
from tethys_compute.status import JobStatus

__all__ = ["MAX_DELAY", "failure_message", "finished_well", "max_attempts", "next_try"]

#: The longest wait between two attempts, in seconds.
MAX_DELAY = 3600.0


def finished_well(job: Any) -> str:
    """The status of a job whose work succeeded: Results-Ready when it has results to process.

    ``job`` is any job record (only its ``needs_results_processing()`` is asked).
    """
    return JobStatus.RESULTS_READY if job.needs_results_processing() else JobStatus.COMPLETE


def max_attempts() -> int:
    """``TETHYS_COMPUTE['RESULTS_MAX_ATTEMPTS']`` (at least 1)."""
    return max(int(compute_settings.RESULTS_MAX_ATTEMPTS), 1)


def next_try(attempts: int, now: datetime) -> datetime | None:
    """When the refresher tries again after ``attempts`` failures; None: it gives up."""
    if attempts >= max_attempts():
        return None
    delay = float(compute_settings.RESULTS_RETRY_DELAY) * 2 ** max(attempts - 1, 0)
    return now + timedelta(seconds=min(delay, MAX_DELAY))


def failure_message(
    function: str, exc: BaseException, attempts: int, retry: datetime | None
) -> str:
    """The ``status_message`` of a job whose results callback failed."""
    reason = f"{type(exc).__name__}: {exc}"
    text = f"Results callback {function} failed (attempt {attempts} of {max_attempts()}): {reason}."
    if isinstance(exc, ImportError):
        module = getattr(exc, "name", None) or function.rsplit(".", 1)[0]
        text += (
            f" The process that runs results callbacks (compute_refresh, or the one that called "
            f"process_results()) cannot import {module!r}: install the app's package in its "
            "environment or add the app's folder to its PYTHONPATH."
        )
    if retry is not None:
        text += f" The refresher tries again after {retry:%Y-%m-%d %H:%M:%S %Z}."
    else:
        text += (
            " The refresher gives up; fix the cause, then run `manage.py jobs refresh ID` "
            "or call job.process_results()."
        )
    return text
