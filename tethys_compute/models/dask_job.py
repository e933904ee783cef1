"""Dask jobs: :class:`DaskJob`, a future or a dask collection on a Dask scheduler."""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models
from django.utils.module_loading import import_string

from tethys_compute.conf import compute_settings
from tethys_compute.dask_client import scheduler_call
from tethys_compute.dask_code import check_code, graph_modules
from tethys_compute.exceptions import (
    InvalidArgumentError,
    InvalidStatusTransition,
    SchedulerConnectionError,
)
from tethys_compute.models.dask import DaskScheduler
from tethys_compute.models.dask_results import DaskResultsMixin
from tethys_compute.models.hooks import hooks
from tethys_compute.models.job import Job
from tethys_compute.models.results_retry import finished_well
from tethys_compute.models.status_update import apply_status
from tethys_compute.status import (
    ACTIVE_STATUSES,
    JobStatus,
)
from tethys_compute.value_fields import PickledValueField

if TYPE_CHECKING:
    from distributed import Client, Future


# The logger of the module DaskJob came from, so logging configurations keep working.
logger = logging.getLogger("tethys_compute.models.job")


#: Futures of Dask jobs submitted by this process, kept until their done callback ran.
_live_futures: dict[str, Future] = {}


def _dask_scheduler(job: Job) -> DaskScheduler:
    scheduler = job.get_scheduler()
    if not isinstance(scheduler, DaskScheduler):
        raise InvalidArgumentError(
            f"Dask job {job.pk} ({job.name!r}) needs a DaskScheduler; it has "
            + (f"the {scheduler.KIND} scheduler {scheduler.name!r}." if scheduler else "none.")
            + " A Dask job never starts a local cluster: pass "
            "scheduler=get_scheduler('<name>') to create_job()."
        )
    return scheduler


class DaskJob(DaskResultsMixin, Job):
    """A Python callable run on a :class:`~tethys_compute.models.DaskScheduler`.

    ``function`` is the callable's import path (the workers must be able to
    import it too); ``args`` and ``kwargs`` are JSON.  :meth:`execute` may
    instead be given a ``distributed.Future`` or a ``dask.delayed`` object.

    As in Tethys Platform, :attr:`result` is the *stored* result: once the
    task has finished, its value (passed through ``process_results_function``
    when there is one) is pickled into the job's row and the job becomes
    Complete; with ``forget=True`` nothing is fetched or stored.  The value
    also stays on the scheduler (published as a dataset named ``key``) until
    :meth:`clean`; :meth:`fetch_result` waits for it there.

    Examples
    --------
    >>> job = manager.create_job("add", user, "DASK", scheduler=scheduler,
    ...                          function="operator.add", args=[1, 2])  # doctest: +SKIP
    >>> job.execute()  # doctest: +SKIP
    >>> job.fetch_result(timeout=10)  # doctest: +SKIP
    3
    >>> job.refresh_from_db(); job.result  # doctest: +SKIP
    3
    """

    KIND: ClassVar[str] = "dask"
    JOB_TYPE: ClassVar[str] = "DASK"

    function = models.CharField("callable", max_length=1024, blank=True, default="")
    args = models.JSONField("positional arguments", default=list, blank=True)
    kwargs = models.JSONField("keyword arguments", default=dict, blank=True)
    key = models.CharField("task key", max_length=255, blank=True, default="", db_index=True)
    forget = models.BooleanField(
        "forget result",
        default=False,
        help_text="Do not fetch or store the result once the task has finished.",
    )
    result = PickledValueField(
        "stored result",
        editable=False,
        help_text="The task's value (after the results callback), stored once it finished.",
    )

    class Meta:
        verbose_name = "Dask job"
        verbose_name_plural = "Dask jobs"

    @property
    def client(self) -> Client:
        """The scheduler's shared, cached ``distributed.Client``."""
        return _dask_scheduler(self).get_client()

    def _execute(self, *args: Any, **kwargs: Any) -> list[str]:
        from dask import is_dask_collection
        from distributed import Future

        client = self.client
        hooks.before_dask_submit(client, float(compute_settings.DASK_CONNECT_TIMEOUT))
        work = args[0] if args else kwargs.pop("future", None)
        key = f"tethys-job-{self.pk}-{self.callback_key[:8]}"
        if isinstance(work, Future):
            future = work
        elif work is not None and is_dask_collection(work):
            # A dask.delayed object (or another collection) describes work: compute it,
            # once the cluster can import its functions' modules.
            scheduler = _dask_scheduler(self)
            check_code(
                client,
                graph_modules(work),
                label=scheduler.name,
                timeout=float(scheduler.timeout or compute_settings.DASK_CONNECT_TIMEOUT),
            )
            future = scheduler_call(client, "compute", work)
        elif work is not None:
            raise InvalidArgumentError(
                f"Dask job {self.pk}: execute() takes a distributed.Future or a dask.delayed "
                f"object (or nothing, to run the job's function), not {type(work).__name__}."
            )
        else:
            if not self.function:
                raise InvalidArgumentError(
                    f"Dask job {self.pk} has no function: give function='package.module.name'."
                )
            func = import_string(self.function)
            scheduler = _dask_scheduler(self)
            check_code(
                client,
                getattr(func, "__module__", "") or self.function.rsplit(".", 1)[0],
                label=scheduler.name,
                timeout=float(scheduler.timeout or compute_settings.DASK_CONNECT_TIMEOUT),
                functions=[self.function],
            )
            future = scheduler_call(
                client, "submit", func, *self.args, key=key, pure=False, **self.kwargs
            )
        self.key = str(future.key)
        _live_futures[self.key] = future  # before publishing: task-start events look here
        scheduler_call(client, "publish_dataset", future, name=self.key, override=True)
        # A collection's or a given future's task may have started before it was
        # published: the hook then asks once.
        hooks.on_dask_submitted(self, future, client, work is not None)
        return ["key"]

    def _future(self) -> Future:
        from distributed import Future

        return Future(self.key, client=self.client)

    def _wait_value(self, timeout: float | None) -> Any:
        if not self.key:
            raise InvalidStatusTransition(f"Dask job {self.pk} has not been executed.")
        wait = timeout if timeout is not None else float(compute_settings.DASK_CONNECT_TIMEOUT)
        future = scheduler_call(self.client, "get_dataset", self.key, default=None)
        if future is None:
            raise InvalidStatusTransition(
                f"Dask job {self.pk}: the scheduler no longer holds the result of {self.key}."
            )
        return future.result(timeout=wait)

    def fetch_result(self, timeout: float | None = None) -> Any:
        """Wait (at most ``timeout`` seconds) for the task's value on the scheduler.

        Unlike :attr:`result` (the stored value), this asks the scheduler and
        waits.  Afterwards the job is finished and ``self.status`` is up to
        date: if the done callback has not recorded it yet, it is done here
        (the result is stored, unless ``forget``, and the job is Complete).

        Raises
        ------
        InvalidStatusTransition
            Before :meth:`execute`, or after :meth:`clean`.
        """
        value = self._wait_value(timeout)
        self.refresh_status()
        if self.status_code in ACTIVE_STATUSES:
            apply_status(self, finished_well(self), message="")
        if self.status_code == JobStatus.RESULTS_READY and not self.forget:
            self._store_result(value)
        elif self.status_code == JobStatus.RESULTS_READY:
            apply_status(self, JobStatus.COMPLETE, message="")
        return value

    def _stop(self) -> None:
        if self.key:
            client = self.client
            scheduler_call(client, "cancel", [self._future()], force=True)
            self._unpublish(client)

    def resubmit_refusal(self) -> str:
        """A job run from a ``dask.delayed`` object or a future has nothing stored to run again."""
        if self._scheduler_gone():
            return self._scheduler_gone()
        if self.function:
            return ""
        return (
            f"Dask job {self.pk} ({self.name!r}) was run from a dask.delayed object or a future: "
            "no function is stored, so it cannot be run again from here (its result is kept). "
            "Run it again from the app's code with job.resubmit(work), giving the delayed "
            "object or future again, or create the job with function='package.module.name'."
        )

    def _fetch_logs(self) -> dict[str, Any]:
        """A failed task's remote traceback (as Dask gives it), else the status message."""
        if self.status_code != JobStatus.ERROR:
            return {"stdout": "", "stderr": ""}
        text = self.status_message
        if self.key and self.scheduler_id is not None:
            future = self.client.get_dataset(self.key, default=None)
            if future is not None and future.status == "error":
                text = remote_traceback(future, self.status_message)
        return {"stdout": "", "stderr": text}

    def _unpublish(self, client: Client) -> None:
        try:
            if self.key in scheduler_call(client, "list_datasets"):
                scheduler_call(client, "unpublish_dataset", self.key)
        except (KeyError, OSError) as exc:
            logger.info("Dask job %s: unpublishing %s: %s", self.pk, self.key, exc)
        _live_futures.pop(self.key, None)

    def _clean(self) -> None:
        if self.key and self.scheduler_id is not None:
            try:
                self._unpublish(self.client)
            except SchedulerConnectionError as exc:
                logger.info("Dask job %s: scheduler unreachable for clean-up: %s", self.pk, exc)


def remote_traceback(future: Future, message: str) -> str:
    """The traceback of a failed task, formatted as Python prints it, after ``message``."""
    try:
        frames = traceback.format_tb(future.traceback(timeout=10))
        exc = future.exception(timeout=10)
    except Exception as error:  # noqa: BLE001 - the message is still worth showing
        return f"{message}\n\n(The remote traceback could not be fetched: {error}.)"
    if not frames:
        return message
    last = f"{type(exc).__name__}: {exc}"
    head = "" if message == last else f"{message}\n\n"
    return f"{head}Traceback (on the Dask worker):\n{''.join(frames)}{last}"
