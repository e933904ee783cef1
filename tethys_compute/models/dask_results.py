"""Tethys Platform's names on Dask jobs: the stored ``result``, ``future``, ``done``, ``retry``.

:class:`DaskResultsMixin` is a base of :class:`~tethys_compute.models.DaskJob`
(no table; the ``forget`` and ``result`` fields are the model's).  As in
Tethys Platform, a Dask job that finished well is Results-Ready until its
value has been fetched, passed to ``process_results_function`` (with the
value) and stored in ``result``; then it is Complete.  ``forget=True`` skips
fetching and storing.  Storing happens in the done callback of the process
that executed the job, in :meth:`DaskJob.fetch_result`, or in
``manage.py compute_refresh``; one at a time per process.
"""

from __future__ import annotations

import datetime
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tethys_compute.exceptions import (
    InvalidStatusTransition,
    JobActionNotSupported,
    TethysComputeError,
)
from tethys_compute.models.status_update import apply_status
from tethys_compute.status import JobStatus
from tethys_compute.value_fields import ImportPath

if TYPE_CHECKING:
    from distributed import Future

    from tethys_compute.models.job import Job

logger = logging.getLogger(__name__)

__all__ = ["DaskResultsMixin"]

#: One Dask result stored at a time in this process (the callback runs once per job).
_results_lock = threading.Lock()


class DaskResultsMixin:
    """What Tethys Platform's ``DaskJob`` has beyond a job (a base of DaskJob; no table)."""

    if TYPE_CHECKING:
        pk: Any
        key: str
        forget: bool
        result: Any
        status: str
        status_code: str
        process_results_function: Any
        workspace: str
        objects: Any

        def _future(self) -> Future: ...
        def _wait_value(self, timeout: float | None) -> Any: ...
        def refresh_status(self) -> None: ...

    def _as_job(self) -> Job:
        return cast("Job", self)

    @property
    def future(self) -> Future | None:
        """Tethys Platform's ``future``: a ``distributed.Future`` of the job's task, or None.

        None before :meth:`execute`, or when the scheduler cannot be reached.
        """
        if not self.key:
            return None
        try:
            return self._future()
        except TethysComputeError as exc:
            logger.info("Dask job %s: no future: %s", self.pk, exc)
            return None

    def done(self) -> bool | None:
        """True once the task has finished (well or not); None without a task."""
        future = self.future
        return future.done() if future is not None else None

    def retry(self) -> None:
        """Run the task again after it failed (``Future.retry``); nothing without a task."""
        future = self.future
        if future is not None:
            future.retry()

    def _default_update_interval(self) -> datetime.timedelta:
        return datetime.timedelta(0)

    def needs_results_processing(self) -> bool:
        """A Dask job stores its result, unless ``forget`` is set."""
        return not self.forget

    def process_results(self, *args: Any, **kwargs: Any) -> None:
        """Store the result of a Results-Ready job; it becomes Complete once that worked.

        Tethys Platform's meaning for Dask jobs: the value is fetched from the
        scheduler, passed to ``process_results_function`` (when set; its
        return value is what is stored) and kept in :attr:`result`.  This runs
        on its own when the task finishes (the done callback), in
        :meth:`fetch_result`, or in ``manage.py compute_refresh``.

        Raises
        ------
        SchedulerConnectionError
            When the scheduler cannot be reached; the job stays Results-Ready.
        """
        self.refresh_status()
        if self.status_code != JobStatus.RESULTS_READY:
            raise InvalidStatusTransition(
                f"Job {self.pk} is {self.status}; results are processed once it is Results-Ready."
            )
        if self.forget:
            apply_status(self._as_job(), JobStatus.COMPLETE, message="")
            return
        self._store_result(self._wait_value(None))

    def _store_result(self, value: Any) -> None:
        """Run the results callback on ``value``, store what it returns; then Complete.

        When the callback raises, the job stays Results-Ready with the error
        recorded and is retried later (see :meth:`Job.process_results`).
        """
        with _results_lock:
            # Another thread of this process may have stored it meanwhile.
            self.refresh_status()
            if self.status_code != JobStatus.RESULTS_READY:
                return
            try:
                if self.workspace:
                    # The callback may write there, as for every kind.
                    Path(self.workspace).mkdir(parents=True, exist_ok=True)
                if self.process_results_function:
                    value = ImportPath(self.process_results_function)(value)
                type(self).objects.filter(pk=self.pk).update(result=value)
                self.result = value
            except Exception as exc:
                # The task's work is not lost: the job stays Results-Ready with the
                # error, and the refresher tries again later (jobs/results.py).
                logger.exception("Dask job %s: processing results failed", self.pk)
                self._as_job()._results_failed(exc)
                return
            apply_status(self._as_job(), JobStatus.COMPLETE, message="")

    def pause(self) -> None:
        """Dask cannot pause a task: raises (also a ``NotImplementedError``, as in Tethys)."""
        raise JobActionNotSupported(
            f"Dask job {self.pk} cannot be paused; stop() and resubmit() it instead."
        )

    def resume(self) -> None:
        """Dask cannot pause a task, so none can be resumed (see :meth:`pause`)."""
        raise JobActionNotSupported(f"Dask job {self.pk} cannot be paused or resumed.")
