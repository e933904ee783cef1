"""Test the connection of several schedulers at once, within one time bound.

The admin's **Test connection** action and button and the ``schedulers test``
command all go through :func:`check_schedulers`, so they behave the same way:

* each scheduler's own :meth:`~tethys_compute.models.Scheduler.test_connection`
  runs in a worker thread, all of them in parallel;
* the whole batch is bounded by ``TETHYS_COMPUTE['HEALTH_CHECK_TIMEOUT']`` plus
  a small margin; a scheduler that has not answered by then is reported as
  FAILED ("no answer within N s");
* every outcome, including time-outs and unexpected errors, is stored on its
  record with :meth:`~tethys_compute.models.Scheduler.record_health` from the
  calling thread (so it is part of the caller's database transaction), which
  lets the scheduler list show it without checking again.

Only the saved records are ever tested: the functions take model instances and
never accept a host, a port or a secret from elsewhere.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connections

from tethys_compute.conf import compute_settings
from tethys_compute.health import HealthResult
from tethys_compute.models import Scheduler

logger = logging.getLogger(__name__)

#: Seconds added to ``HEALTH_CHECK_TIMEOUT`` for the batch's overall bound, so a
#: check that honours the timeout itself still reports its own reason.
MARGIN_S = 2.0

#: Largest number of checks running at the same time.
MAX_WORKERS = 32


@dataclass(frozen=True)
class SchedulerCheck:
    """One scheduler and the outcome of its connection test."""

    scheduler: Scheduler
    result: HealthResult

    @property
    def status(self) -> str:
        """``"OK"``, ``"FAILED"`` or ``"NOT CHECKED"``."""
        if not self.result.checked:
            return "NOT CHECKED"
        return "OK" if self.result.ok else "FAILED"


def overall_bound() -> float:
    """Seconds a whole batch may take: ``HEALTH_CHECK_TIMEOUT`` plus :data:`MARGIN_S`."""
    return float(compute_settings.HEALTH_CHECK_TIMEOUT) + MARGIN_S


def check_schedulers(
    schedulers: Sequence[Scheduler], *, bound: float | None = None
) -> list[SchedulerCheck]:
    """Test every scheduler's connection in parallel and store each result.

    Parameters
    ----------
    schedulers : sequence of Scheduler
        Saved records of their concrete kinds (``Scheduler.objects.typed()``).
    bound : float, optional
        Overall limit in seconds; default :func:`overall_bound`.

    Returns
    -------
    list of SchedulerCheck
        One per scheduler, in the order given.

    Examples
    --------
    >>> from tethys_sdk.compute import list_schedulers
    >>> for check in check_schedulers(list(list_schedulers())):   # doctest: +SKIP
    ...     print(check.scheduler.name, check.result.summary)
    Default OK (1.2 ms)
    """
    items = list(schedulers)
    if not items:
        return []
    limit = overall_bound() if bound is None else bound
    results: dict[int, HealthResult] = {}
    done = threading.Condition()
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(items)):
        todo.put(index)

    def work() -> None:
        try:
            while True:
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                result = _test_one(items[index])
                with done:
                    results[index] = result
                    done.notify_all()
        finally:
            # Worker threads open their own database connections (if any); close them.
            connections.close_all()

    for number in range(min(len(items), MAX_WORKERS)):
        # Daemon threads: a check that ignores its own timeout cannot keep the
        # process alive; its late result is dropped.
        threading.Thread(target=work, name=f"tethys-compute-check-{number}", daemon=True).start()

    deadline = time.monotonic() + limit
    with done:
        while len(results) < len(items):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            done.wait(remaining)
        finished = dict(results)

    checks = []
    for index, scheduler in enumerate(items):
        result = finished.get(index) or _timed_out(scheduler, limit)
        scheduler.record_health(result)
        checks.append(SchedulerCheck(scheduler, result))
    return checks


def _target(scheduler: Scheduler) -> str:
    return f"{scheduler._meta.verbose_name} {scheduler.name!r}"


def _test_one(scheduler: Scheduler) -> HealthResult:
    try:
        return scheduler.test_connection()
    except Exception as exc:  # noqa: BLE001 - any failure is a result to report
        logger.warning("Connection test of %r raised %s", scheduler, type(exc).__name__)
        result = HealthResult(target=_target(scheduler))
        result.failed("test", f"{type(exc).__name__}: {exc}")
        return result.finish()


def _timed_out(scheduler: Scheduler, limit: float) -> HealthResult:
    result = HealthResult(target=_target(scheduler))
    result.failed("test", f"no answer within {limit:g} s (the test was abandoned)")
    return result.finish()
