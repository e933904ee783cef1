"""Jobs: the base :class:`Job` record and its kinds (basic, HTCondor, DAG, Dask).

One table holds what every job has (who, which app, which scheduler, status,
timestamps, cached logs); each kind adds its own table (multi-table
inheritance).  ``Job.objects.select_subclasses()`` returns each row as its
own kind in one query (django-model-utils' ``InheritanceManager``).

Reading a status never contacts a scheduler: :attr:`Job.status` is the
stored value.  Statuses change through :mod:`tethys_compute.jobs.status`
(conditional, versioned updates), fed by pushes from the jobs themselves
(:mod:`tethys_compute.jobs.callbacks`) and by the batched refresher
(:mod:`tethys_compute.jobs.refresh`).

Deleting a scheduler
--------------------
``Job.scheduler`` uses :func:`protect_active_jobs`: deleting a scheduler that
still has active jobs (submitted, running, paused, ...) is refused with
:class:`~tethys_compute.exceptions.SchedulerInUseError`, which is also Django's
:class:`~django.db.models.ProtectedError` (the admin lists those jobs on its
confirmation page); finished jobs keep their row, with ``scheduler`` set to
NULL and the scheduler's name kept in ``scheduler_name``.
"""

from __future__ import annotations

import logging
import posixpath
import re
import secrets
import tempfile
import traceback
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

from django.conf import settings
from django.db import models
from django.db.models.deletion import Collector, ProtectedError
from django.utils import timezone
from django.utils.module_loading import import_string
from model_utils.managers import InheritanceManager, InheritanceQuerySet

from tethys_compute.dask_client import scheduler_call
from tethys_compute.exceptions import (
    InvalidArgumentError,
    InvalidStatusTransition,
    SchedulerConnectionError,
    SchedulerInUseError,
    TethysComputeError,
)
from tethys_compute.models import condor_compat
from tethys_compute.models.callback_tokens import callback_url
from tethys_compute.models.chunked import ChunkedInheritanceIterable
from tethys_compute.models.condor_compat import (
    CondorAttributesMixin,
    DagNodeOptions,
    RemoteIdMixin,
    WorkflowCompatMixin,
)
from tethys_compute.models.condor_wrapper import URL_FILE, wrap_condor_description, wrapper_files
from tethys_compute.models.dask_results import DaskResultsMixin
from tethys_compute.models.hooks import hooks
from tethys_compute.models.results_retry import failure_message, finished_well, next_try
from tethys_compute.models.saved_fields import SavedFieldsMixin
from tethys_compute.models.status_update import StatusChange, apply_status, reset
from tethys_compute.models.tethys_status import TethysStatusMixin
from tethys_compute.status import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    FINISHED_STATUSES,
    JobStatus,
    parse_status,
)
from tethys_compute.value_fields import ImportPathField, PickledValueField

if TYPE_CHECKING:
    from distributed import Client, Future

    from tethys_compute.models.condor import CondorScheduler
    from tethys_compute.models.dask import DaskScheduler
    from tethys_compute.models.scheduler import Scheduler
    from tethys_compute.remote import RemoteHost

logger = logging.getLogger(__name__)

__all__ = [
    "BasicJob",
    "job_types",
    "parse_status",
    "CondorJob",
    "CondorWorkflow",
    "CondorWorkflowNode",
    "DaskJob",
    "Job",
    "JobQuerySet",
    "JobRecordManager",
    "protect_active_jobs",
]


def protect_active_jobs(collector: Collector, field: Any, sub_objs: Any, using: str) -> None:
    """``on_delete`` of ``Job.scheduler``: refuse while jobs are active, else SET_NULL.

    Django's collector catches what an ``on_delete`` raises and raises a plain
    ProtectedError of its own wording instead; ``Scheduler.delete()`` and the
    schedulers' queryset ``delete()`` raise this error in its place (see
    :func:`refusing_scheduler_deletes`).

    Raises
    ------
    SchedulerInUseError
        (also a ``django.db.models.ProtectedError``) naming the scheduler and
        its active jobs; nothing is deleted.
    """
    active = [job for job in sub_objs if job.status_code in ACTIVE_STATUSES]
    if active:
        names = sorted({job.scheduler_name for job in active if job.scheduler_name})
        if not names:
            from tethys_compute.models.scheduler import Scheduler

            ids = {job.scheduler_id for job in active}
            names = sorted(Scheduler.objects.filter(pk__in=ids).values_list("name", flat=True))
        error = SchedulerInUseError(names, active)
        refused = _refused_deletes.get()
        if refused is not None:
            refused.append(error)
        raise error
    collector.add_field_update(field, None, sub_objs)


#: The refusals of :func:`protect_active_jobs` during one scheduler delete.
_refused_deletes: ContextVar[list[SchedulerInUseError] | None] = ContextVar(
    "tethys_compute_refused_deletes", default=None
)


@contextmanager
def refusing_scheduler_deletes() -> Iterator[None]:
    """Around a scheduler delete: raise :class:`SchedulerInUseError`, not Django's rewording.

    Django's collector replaces the error :func:`protect_active_jobs` raised
    by a ProtectedError of its own (naming model fields); this raises ours,
    with every refused scheduler and job, in its place.
    """
    token = _refused_deletes.set([])
    try:
        yield
    except ProtectedError as exc:
        refused = _refused_deletes.get() or []
        if not refused or isinstance(exc, SchedulerInUseError):
            raise
        names = {name for error in refused for name in error.schedulers}
        jobs = {getattr(job, "pk", 0): job for error in refused for job in error.jobs}
        raise SchedulerInUseError(names, [jobs[pk] for pk in sorted(jobs)]) from None
    finally:
        _refused_deletes.reset(token)


class JobQuerySet(InheritanceQuerySet):  # type: ignore[type-arg]
    """Querysets of jobs: :meth:`typed`, :meth:`active`, :meth:`for_label`.

    ``iterator()`` reads the rows in chunks, as their own kinds too
    (:mod:`tethys_compute.models.chunked`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._iterable_class = ChunkedInheritanceIterable

    def typed(self) -> JobQuerySet:
        """Every row as its own kind (BasicJob, CondorJob, ...), one SQL query."""
        return self.select_subclasses()  # type: ignore[return-value]

    def active(self) -> JobQuerySet:
        """Jobs on a scheduler that have not finished (what the refresher polls)."""
        return self.filter(status_code__in=ACTIVE_STATUSES)

    def for_label(self, label: str) -> JobQuerySet:
        return self.filter(label=label)


class JobRecordManager(InheritanceManager):  # type: ignore[type-arg]
    """``Job.objects``: an InheritanceManager returning :class:`JobQuerySet`."""

    _queryset_class = JobQuerySet

    def get_queryset(self) -> JobQuerySet:
        return JobQuerySet(self.model, using=self._db)

    def typed(self) -> JobQuerySet:
        return self.get_queryset().typed()

    def active(self) -> JobQuerySet:
        return self.get_queryset().active()


class Job(SavedFieldsMixin, TethysStatusMixin, models.Model):
    """A unit of work an app runs on a scheduler; the base of every job kind.

    Create jobs with :meth:`tethys_compute.jobs.JobManager.create_job`.  The
    kinds are :class:`BasicJob`, :class:`CondorJob`, :class:`CondorWorkflow`
    and :class:`DaskJob`.

    Examples
    --------
    >>> job = manager.create_job("sum", user, "DASK", scheduler=scheduler,
    ...                          function="operator.add", args=[1, 2])  # doctest: +SKIP
    >>> job.execute()  # doctest: +SKIP
    >>> job.status  # doctest: +SKIP
    'Submitted'
    """

    #: The kind's name ("basic", "condor", "condorworkflow", "dask"); set by each kind.
    KIND: ClassVar[str] = ""
    #: The ``job_type`` of :meth:`JobManager.create_job` (Tethys Platform's names).
    JOB_TYPE: ClassVar[str] = ""

    label = models.CharField(
        "label", max_length=255, db_index=True, help_text="The app's namespace for its jobs."
    )
    name = models.CharField("name", max_length=1024)
    description = models.TextField("description", blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="user",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tethys_compute_jobs",
    )
    groups = models.ManyToManyField(
        "auth.Group", verbose_name="groups", blank=True, related_name="tethys_compute_jobs"
    )
    workspace = models.CharField(
        "workspace",
        max_length=1024,
        blank=True,
        default="",
        help_text="Local directory for the job's files (results are fetched here).",
    )
    scheduler = models.ForeignKey(
        "tethys_compute.Scheduler",
        verbose_name="scheduler",
        null=True,
        blank=True,
        on_delete=protect_active_jobs,
        related_name="jobs",
    )
    scheduler_name = models.CharField(
        "scheduler name",
        max_length=255,
        blank=True,
        default="",
        help_text="Name of the scheduler when the job was created (kept after it is deleted).",
    )
    status_code = models.CharField(
        "status",
        max_length=3,
        choices=JobStatus.choices,
        default=JobStatus.PENDING,
        db_index=True,
    )
    status_message = models.TextField("status message", blank=True, default="")
    status_version = models.PositiveIntegerField(
        "status version",
        default=0,
        editable=False,
        help_text="Incremented by every status change; updates are conditional on it.",
    )
    status_changed_at = models.DateTimeField(
        "status changed", null=True, blank=True, editable=False
    )
    last_refresh_ok_at = models.DateTimeField(
        "last good refresh", null=True, blank=True, editable=False
    )
    refresh_error = models.TextField(
        "last refresh problem",
        blank=True,
        default="",
        editable=False,
        help_text="Why the last refresh could not reach the scheduler (empty when it could).",
    )
    extended_properties = models.JSONField("extended properties", default=dict, blank=True)
    process_results_function = ImportPathField(
        "results callback",
        max_length=1024,
        blank=True,
        default="",
        help_text="Import path of a function called once the job has finished well "
        "(a Dask job's: with its result).",
    )
    results_attempts = models.PositiveSmallIntegerField(
        "results callback attempts",
        default=0,
        editable=False,
        help_text="Failed runs of the results callback (the job stays Results-Ready).",
    )
    results_retry_at = models.DateTimeField(
        "results callback retry",
        null=True,
        blank=True,
        editable=False,
        help_text="When the refresher runs the failed results callback again (empty: "
        "not scheduled).",
    )
    callback_base_url = models.CharField(
        "callback base URL",
        max_length=1024,
        blank=True,
        default="",
        help_text="Where the job reports its status, e.g. https://portal.example.com/compute/. "
        "Empty: no pushes; the refresher polls.",
    )
    callback_key = models.CharField(
        "callback key", max_length=64, blank=True, default="", editable=False
    )
    callback_seqs = models.JSONField(
        "callback sequence numbers", default=dict, blank=True, editable=False
    )
    creation_time = models.DateTimeField("created", auto_now_add=True)
    execute_time = models.DateTimeField("submitted", null=True, blank=True)
    start_time = models.DateTimeField("started", null=True, blank=True)
    completion_time = models.DateTimeField("completed", null=True, blank=True)
    logs = models.JSONField(
        "cached logs",
        null=True,
        blank=True,
        editable=False,
        help_text="stdout/stderr kept once the job has finished.",
    )

    objects = JobRecordManager()

    class Meta:
        verbose_name = "job"
        verbose_name_plural = "jobs"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["label", "status_code"], name="tc_job_label_status"),
            models.Index(fields=["scheduler", "status_code"], name="tc_job_sched_status"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_code_display()})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pk}: {self.name!r} {self.status_code}>"

    def __lt__(self, other: Job) -> bool:
        return (self.pk or 0) < (other.pk or 0)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.scheduler_id is not None and not self.scheduler_name:
            self.scheduler_name = self.scheduler.name if self.scheduler else ""
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "scheduler_name"}
        super().save(*args, **kwargs)
        update_fields = kwargs.get("update_fields")
        self.remember_saved_fields(None if update_fields is None else list(update_fields))
        if "{id}" in self.name:
            # Tethys Platform's names: "run_{id}" becomes "run_42" once the job has an id.
            self.name = self.name.replace("{id}", str(self.pk))
            Job.objects.filter(pk=self.pk).update(name=self.name)

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kw: Any
    ) -> Self:
        instance = super().from_db(db, field_names, values, **kw)
        instance.remember_saved_fields()
        return instance

    # ------------------------------------------------------------------
    # Status (never a remote call)
    # ------------------------------------------------------------------
    @property
    def status(self) -> str:
        """The stored status, as Tethys Platform's display name (``"Running"``).

        Reading it never contacts the scheduler (``update_status()`` does).
        A custom status reads as its own name.  Assigning a status (code,
        name, or any text for a custom status) is Tethys'
        :meth:`update_status`: any move is allowed; :meth:`set_status` is
        the checked one.
        """
        return self.cached_status

    @status.setter
    def status(self, value: str) -> None:
        self.update_status(status=value)

    @property
    def type(self) -> str:
        """The kind's class name (Tethys Platform's ``job.type``)."""
        return type(self).__name__

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def is_active(self) -> bool:
        """True while the job is on its scheduler and not finished."""
        return self.status_code in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        """True once the job has finished on its scheduler (well or not)."""
        return self.status_code in FINISHED_STATUSES

    @property
    def run_time(self) -> Any:
        """Time from start (or submission) to completion (or now); ``""`` before submission.

        (``""``, not None, as in Tethys Platform: templates show it as it is.)
        """
        start = self.start_time or self.execute_time
        if start is None:
            return ""
        return (self.completion_time or timezone.now()) - start

    def set_status(self, status: str | JobStatus, message: str | None = None) -> StatusChange:
        """Move the job to ``status`` (an app's own report, e.g. for a BasicJob).

        Raises
        ------
        InvalidStatusTransition
            For a move the state model does not allow (a finished job stays
            finished until :meth:`resubmit`).
        """
        if self.pk is None:
            self.save()
        return apply_status(self, status, message=message, strict=True)

    def refresh_status(self) -> None:
        """Reload this object's status fields from the database (one local query).

        ``status`` is the value stored when the object was loaded; pushes and
        the refresher update the row, not objects already in memory.  The
        methods that act on a status (``stop``, ``clean``, ``result``,
        ``get_logs``...) call this first.
        """
        if self.pk is not None:
            self.refresh_from_db(fields=list(_REFRESHED_FIELDS))

    # ------------------------------------------------------------------
    # Scheduler
    # ------------------------------------------------------------------
    def get_scheduler(self) -> Scheduler | None:
        """The job's scheduler as its own kind (CondorScheduler, DaskScheduler)."""
        if self.scheduler_id is None:
            return None
        cached = self.__dict__.get("_typed_scheduler")
        if cached is not None and cached.pk == self.scheduler_id:
            return cached  # type: ignore[no-any-return]
        from tethys_compute.models.scheduler import Scheduler

        given = self._state.fields_cache.get("scheduler")
        if given is not None and type(given) is not Scheduler and given.pk == self.scheduler_id:
            # The app passed its scheduler as its own kind (create_job(scheduler=...)).
            self.__dict__["_typed_scheduler"] = given
            return given  # type: ignore[no-any-return]

        typed = Scheduler.objects.get_subclass(pk=self.scheduler_id)
        self.__dict__["_typed_scheduler"] = typed
        return typed  # type: ignore[no-any-return]

    # ------------------------------------------------------------------
    # Callbacks
    # ------------------------------------------------------------------
    def get_callback_url(self) -> str | None:
        """This run's signed, expiring status URL; None without ``callback_base_url``."""

        return callback_url(self)

    # ------------------------------------------------------------------
    # Life cycle
    # ------------------------------------------------------------------
    def execute(self, *args: Any, **kwargs: Any) -> None:
        """Submit the job to its scheduler; the status becomes Submitted.

        A failed submission leaves the job in Error with the reason in
        ``status_message`` and raises.

        Raises
        ------
        InvalidStatusTransition
            When the job is not Pending (call :meth:`resubmit`).
        TethysComputeError
            When the scheduler refused the job or could not be reached.
        """
        # Tethys Platform: executing saves the job (what the app set since create_job).
        self._save_app_fields()
        version = self._claim_for_run()
        try:
            changed = self._execute(*args, **kwargs) or []
        except Exception as exc:
            apply_status(self, JobStatus.ERROR, message=f"Submission failed: {exc}"[:2000])
            logger.warning("Job %s: submission failed: %s", self.pk, exc)
            raise
        self._record_submission(version, changed)

    def _claim_for_run(self) -> int:
        """Give the Pending job this run's callback key; its status version.

        One conditional UPDATE when this object's status is the stored one;
        the row is read only when it is not (the object is older than the row).

        Raises
        ------
        InvalidStatusTransition
            When the stored status is not Pending.
        """
        self.callback_key = secrets.token_urlsafe(18)
        self.callback_seqs = {}
        table = Job.objects.filter(pk=self.pk)
        version = self.status_version
        for _ in range(3):
            if table.filter(status_code=JobStatus.PENDING, status_version=version).update(
                callback_key=self.callback_key, callback_seqs={}
            ):
                self.status_code, self.status_version = JobStatus.PENDING, version
                return int(version)
            # The stored status decides (this object may be older than the row).
            current, version = table.values_list("status_code", "status_version").get()
            self.status_code, self.status_version = current, version
            if current != JobStatus.PENDING:
                raise InvalidStatusTransition(
                    f"Job {self.pk} ({self.name!r}) is {self.status}, not Pending; call "
                    "resubmit() to run it again."
                )
        raise InvalidStatusTransition(f"Job {self.pk} kept changing; call execute() again.")

    def _record_submission(self, version: int, changed: Iterable[str]) -> None:
        """Store the run's ids and make the job Submitted: one UPDATE per table touched."""
        own = {f.name for f in type(self)._meta.local_concrete_fields}
        kind_fields = {name: getattr(self, name) for name in changed if name in own}
        base_fields = {name: getattr(self, name) for name in changed if name not in own}
        if kind_fields and type(self) is not Job:
            type(self)._base_manager.filter(pk=self.pk).update(**kind_fields)
        else:
            base_fields.update(kind_fields)
        now = timezone.now()
        self.execute_time = now
        values = {
            "status_code": JobStatus.SUBMITTED,
            "status_version": version + 1,
            "status_changed_at": now,
            "status_message": "",
            "execute_time": now,
            **base_fields,
        }
        if Job.objects.filter(pk=self.pk, status_version=version).update(**values):
            for name, value in values.items():
                setattr(self, name, value)
            logger.info("Job %s: PEN -> SUB", self.pk)
        else:
            # A push already moved the job on: it is newer than "submitted".
            Job.objects.filter(pk=self.pk).update(execute_time=now, **base_fields)
            apply_status(self, JobStatus.SUBMITTED, message="", expected_version=version)
        self.remember_saved_fields(changed)

    def stop(self, *, reason: str = "", force: bool = False) -> None:
        """Stop the job (``condor_rm``, cancel the Dask task); the status becomes Aborted.

        Tethys Platform's meaning (returns None); :meth:`stop_confirmed` does
        the same and tells whether the scheduler confirmed the stop.  A
        finished job is left as it is; a job whose scheduler does not answer
        is still marked Aborted, here only (see :meth:`stop_confirmed`).
        """
        self.stop_confirmed(reason=reason, force=force)

    def stop_confirmed(self, *, reason: str = "", force: bool = False) -> bool:
        """Stop the job like :meth:`stop`; return whether the scheduler confirmed it.

        A finished job is left as it is.  When the scheduler does not answer
        within its timeout (it is gone, or the network is), the job is still
        marked Aborted, here only, with the message ``scheduler unreachable:
        not confirmed stopped on <scheduler>`` (and a warning is logged): a
        job never stays active because its scheduler disappeared.

        Parameters
        ----------
        reason : str, optional
            Why it is stopped, kept in ``status_message`` (default "Stopped.").
        force : bool
            Do not contact the scheduler at all: mark the job Aborted here at
            once ("not confirmed stopped on <scheduler>").

        Returns
        -------
        bool
            True when the scheduler confirmed the stop (or there was nothing to
            stop); False when the job was only marked Aborted here.
        """
        self.refresh_status()
        if self.status_code in FINISHED_STATUSES:
            return True
        if self.status_code in ACTIVE_STATUSES:
            unconfirmed = ""
            if force:
                unconfirmed = f"stopped with force: {self._not_confirmed()}"
            else:
                try:
                    self._stop()
                except SchedulerConnectionError as exc:
                    unconfirmed = f"scheduler unreachable: {self._not_confirmed()}"
                    logger.warning("Job %s: %s (%s)", self.pk, unconfirmed, exc)
            if unconfirmed:
                text = f"{reason.rstrip('.')}; {unconfirmed}" if reason else unconfirmed
                apply_status(self, JobStatus.ABORTED, message=f"{text}."[:2000])
                self._stopped_here()
                return False
        apply_status(self, JobStatus.ABORTED, message=reason or "Stopped.")
        return True

    def _not_confirmed(self) -> str:
        """``not confirmed stopped on '<scheduler>'`` (what a local-only stop records)."""
        name = self.scheduler_name or (self.scheduler.name if self.scheduler else "")
        return f"not confirmed stopped on {name or 'its scheduler'!r}"

    def pause(self) -> None:
        """Hold the job (``condor_hold``); the status becomes Paused.

        Idempotent: pausing a job that is already held (by the portal or on the
        submit host) only sets the status.

        Raises
        ------
        InvalidStatusTransition
            When the job is not active, or its kind cannot pause.
        """
        self.refresh_status()
        self._require_active("pause")
        self._pause()
        apply_status(self, JobStatus.PAUSED, message="Paused.", strict=True)

    def resume(self) -> None:
        """Release a paused job (``condor_release``); a Paused status becomes Submitted.

        Idempotent: resuming an active job that is not held (released on the
        submit host, or resumed twice) changes nothing and does not raise.

        Raises
        ------
        InvalidStatusTransition
            When the job is not active, or its kind cannot resume.
        """
        self.refresh_status()
        self._require_active("resume")
        self._resume()
        if self.status_code == JobStatus.PAUSED:
            apply_status(self, JobStatus.SUBMITTED, message="Resumed.", strict=True)

    def resubmit(self, *args: Any, **kwargs: Any) -> None:
        """Start over: stop the job if active, clean its remote files, reset to Pending, execute.

        In that order: the running job is stopped on its scheduler (with the
        ids of this run) before its files are removed, and only then are the
        run's ids forgotten.

        Raises
        ------
        InvalidStatusTransition
            Before anything is stopped or removed, when the job cannot be run
            again as stored (:meth:`resubmit_refusal` says why).
        """
        refusal = self.resubmit_refusal() if not args and not kwargs else self._scheduler_gone()
        if refusal:
            raise InvalidStatusTransition(refusal)
        self.stop()
        try:
            self.clean()
        except TethysComputeError as exc:
            logger.warning("Job %s: cleaning before resubmit failed: %s", self.pk, exc)
        reset(self)
        self._forget_run()
        self.execute(*args, **kwargs)

    def resubmit_refusal(self) -> str:
        """Why :meth:`resubmit` (without arguments) cannot work for this job; "" when it can."""
        return self._scheduler_gone()

    def _scheduler_gone(self) -> str:
        """Why a job of a kind that needs a scheduler cannot run again: its scheduler is gone."""
        if self.KIND == "basic" or self.scheduler_id is not None:
            return ""
        gone = f" {self.scheduler_name!r}" if self.scheduler_name else ""
        return (
            f"Job {self.pk} ({self.name!r}) cannot run again: its scheduler{gone} was removed "
            "(its results and history are kept). Create a new job on another scheduler, or "
            "give this one a scheduler first (job.scheduler = get_scheduler(name); job.save())."
        )

    def get_logs(self) -> dict[str, Any]:
        """The job's stdout and stderr: ``{"stdout": ..., "stderr": ...}``.

        Fetched from the scheduler while the job runs; once it has finished,
        fetched once and then served from the database.
        """
        self.refresh_status()
        if self.logs is not None and self.is_finished:
            return dict(self.logs)
        logs = self._fetch_logs()
        if self.is_finished:
            self.logs = logs
            type(self).objects.filter(pk=self.pk).update(logs=logs)
        return logs

    def process_results(self, *args: Any, **kwargs: Any) -> None:
        """Run the results callback of a Results-Ready job; Complete once it returns.

        (Arguments are accepted as Tethys Platform does, and not used.)

        The callback (``process_results_function``, an import path) is called
        with the job (after a Condor job's ``output_files`` are fetched into
        its workspace).  Without one the job simply becomes Complete.  When
        the callback cannot be imported or raises, the job's work is not
        lost: it stays Results-Ready with the error in ``status_message``
        (which says how to fix a missing module), and the refresher tries
        again later with a growing delay, a bounded number of times (see
        :mod:`tethys_compute.jobs.results`).

        Raises
        ------
        SchedulerConnectionError
            When the outputs cannot be fetched; the job stays Results-Ready.
        """
        self.refresh_status()
        if self.status_code != JobStatus.RESULTS_READY:
            raise InvalidStatusTransition(
                f"Job {self.pk} is {self.status}; results are processed once it is Results-Ready."
            )
        if self.process_results_function:
            try:
                if self.workspace:
                    # The callback may write there, whatever the kind.
                    Path(self.workspace).mkdir(parents=True, exist_ok=True)
                func = import_string(self.process_results_function)
                self._before_results()
                func(self)
            except SchedulerConnectionError:
                # The outputs could not be fetched: stay Results-Ready, try again later.
                logger.warning("Job %s: scheduler unreachable; results later", self.pk)
                raise
            except Exception as exc:
                logger.exception("Job %s: results callback failed", self.pk)
                self._results_failed(exc)
                return
        apply_status(self, JobStatus.COMPLETE, message="")

    def _results_failed(self, exc: BaseException) -> None:
        """Keep the job Results-Ready; record the error, the attempt and the next try."""

        table = Job.objects.filter(pk=self.pk, status_code=JobStatus.RESULTS_READY)
        attempts = (table.values_list("results_attempts", flat=True).first() or 0) + 1
        retry = next_try(attempts, timezone.now())
        message = failure_message(self.process_results_function, exc, attempts, retry)[:2000]
        table.update(results_attempts=attempts, results_retry_at=retry, status_message=message)
        self.results_attempts, self.results_retry_at = attempts, retry
        self.status_message = message

    def clean(self) -> None:  # type: ignore[override]
        """Delete the job's files on the scheduler (nothing for a basic job).

        (Django's model validation hook has this name too; jobs are not
        validated with ``full_clean``.)

        Raises
        ------
        InvalidStatusTransition
            While the job is active (its files are in use): ``stop()`` it
            first, or ``delete()`` it (which stops, then cleans).
        """
        self.refresh_status()
        if self.status_code in ACTIVE_STATUSES:
            raise InvalidStatusTransition(
                f"Job {self.pk} ({self.name!r}) is {self.status}: its files on the scheduler are "
                "in use. stop() it first (or wait until it finishes), then clean(); delete() "
                "stops and cleans in one go."
            )
        self._clean()

    def delete(self, *args: Any, clean: bool = True, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Delete the job: stop it if active, clean its remote files (best effort), drop the row."""
        reachable = True
        if self.is_active:
            try:
                # Unreachable: marked Aborted here, and no second wait to clean.
                reachable = self.stop_confirmed()
            except TethysComputeError as exc:
                logger.warning("Job %s: stopping before delete failed: %s", self.pk, exc)
        if clean and reachable:
            try:
                self._clean()
            except TethysComputeError as exc:
                logger.warning("Job %s: remote clean-up failed: %s", self.pk, exc)
        return super().delete(*args, **kwargs)

    def _save_app_fields(self) -> None:
        """Save what an app changed on a job; never the status fields the state model owns."""
        if self.pk is None:
            self.save()
            return
        changed = self.changed_app_fields()
        if changed is None:
            changed = self._app_field_names()
        if changed:
            self.save(update_fields=changed)

    def needs_results_processing(self) -> bool:
        """True when finishing well means Results-Ready (there are results to process)."""
        return bool(self.process_results_function)

    # ------------------------------------------------------------------
    # What each kind implements
    # ------------------------------------------------------------------
    def _require_active(self, action: str) -> None:
        if self.status_code not in ACTIVE_STATUSES:
            raise InvalidStatusTransition(
                f"Job {self.pk} is {self.status}; only an active job can {action}."
            )

    def _execute(self, *args: Any, **kwargs: Any) -> list[str] | None:
        """Submit; return names of kind fields to save.  Basic jobs have nothing to submit."""
        return None

    def _stop(self) -> None:
        return None

    def _stopped_here(self) -> None:
        """After a stop the scheduler did not confirm: the kind's own records follow."""
        return None

    def _pause(self) -> None:
        return None

    def _resume(self) -> None:
        return None

    def _fetch_logs(self) -> dict[str, Any]:
        return {"stdout": "", "stderr": ""}

    def _before_results(self) -> None:
        return None

    def _clean(self) -> None:
        return None

    def _forget_run(self) -> None:
        """Forget the ids of the previous run (after stop and clean, before execute)."""
        return None


#: The columns :meth:`Job.refresh_status` reloads.
_REFRESHED_FIELDS = (
    "status_code",
    "status_version",
    "status_changed_at",
    "status_message",
    "start_time",
    "completion_time",
    "execute_time",
    "last_refresh_ok_at",
    "refresh_error",
    "logs",
    "results_attempts",
    "results_retry_at",
)
Job.STATE_OWNED_FIELDS = (*_REFRESHED_FIELDS, "callback_key", "callback_seqs")


class BasicJob(Job):
    """A job the app runs itself and reports on (``set_status`` or the callback URL).

    Examples
    --------
    >>> job = manager.create_job("import", user, "BASIC")  # doctest: +SKIP
    >>> job.execute(); job.set_status("Running"); job.set_status("Complete")  # doctest: +SKIP
    """

    KIND: ClassVar[str] = "basic"
    JOB_TYPE: ClassVar[str] = "BASIC"

    class Meta:
        verbose_name = "Basic job"
        verbose_name_plural = "Basic jobs"

    def pause(self) -> None:
        """Tethys Platform's meaning: the app says the job is paused (status Paused)."""
        self.update_status(status=JobStatus.PAUSED.value)

    def resume(self) -> None:
        """Tethys Platform's meaning: the app says the job runs again (status Running)."""
        self.update_status(status=JobStatus.RUNNING.value)


# ----------------------------------------------------------------------
# HTCondor
# ----------------------------------------------------------------------
_OUTPUT_LINE = re.compile(r"^\s*(output|error|log)\s*=\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)


def _condor_scheduler(job: Job) -> CondorScheduler:
    from tethys_compute.models.condor import CondorScheduler

    scheduler = job.get_scheduler()
    if not isinstance(scheduler, CondorScheduler):
        raise InvalidArgumentError(
            f"Job {job.pk} ({job.name!r}) needs a CondorScheduler; it has "
            + (f"the {scheduler.KIND} scheduler {scheduler.name!r}." if scheduler else "none.")
            + " Pass scheduler=get_scheduler('<name>') to create_job()."
        )
    return scheduler


def _expand_macros(value: str, cluster_id: int | None, proc: int) -> str:
    cluster = "" if cluster_id is None else str(cluster_id)
    for macro, replacement in (
        ("$(ClusterId)", cluster),
        ("$(Cluster)", cluster),
        ("$(ProcId)", str(proc)),
        ("$(Process)", str(proc)),
        ("$(Step)", "0"),
    ):
        value = value.replace(macro, replacement)
    return value


def _output_names(description: Any) -> dict[str, str]:
    """``output``/``error``/``log`` file names of a submit description (mapping or text)."""
    names: dict[str, str] = {}
    if isinstance(description, Mapping):
        for key, value in description.items():
            if str(key).lower() in ("output", "error", "log") and value:
                names[str(key).lower()] = str(value)
    elif isinstance(description, str):
        for match in _OUTPUT_LINE.finditer(description):
            names[match.group(1).lower()] = match.group(2)
    return names


def _read_remote_text(host: RemoteHost, path: str, limit: int = 1_000_000) -> str:
    with tempfile.TemporaryDirectory(prefix="tethys-logs-") as tmp:
        local = Path(tmp) / "file"
        try:
            host.get_file(path, str(local))
        except SchedulerConnectionError:
            raise  # unreachable: say so (never store empty logs for a finished job)
        except (OSError, TethysComputeError):
            return ""  # not written (yet)
        data = local.read_bytes()[-limit:]
    return data.decode("utf-8", "replace")


def _log_name(name: str, field: str) -> str:
    """``name`` if it is a file inside the job's directory (the rule for output files).

    Raises
    ------
    InvalidArgumentError
        For an absolute path or one with ``..`` (never read: it could be any
        file the submit account may read).
    """
    from tethys_compute.condor.describe import check_relative_name

    try:
        return check_relative_name(name, f"The submit description's {field!r} file")
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(
            f"{exc} Logs are only read from the job's own directory; write {field} = a file "
            "name such as out.txt."
        ) from None


def _condor_logs(
    host: RemoteHost,
    remote_dir: str,
    description: Any,
    cluster_id: int | None,
    procs: int,
) -> dict[str, Any]:
    names = _output_names(description)
    logs: dict[str, Any] = {"stdout": "", "stderr": ""}
    if not remote_dir:
        return logs
    per_proc: dict[str, dict[str, str]] = {}
    for proc in range(max(procs, 1)):
        entry = {}
        for key, field in (("stdout", "output"), ("stderr", "error")):
            name = names.get(field)
            if not name:
                entry[key] = ""
                continue
            relative = _log_name(_expand_macros(name, cluster_id, proc), field)
            entry[key] = _read_remote_text(host, posixpath.join(remote_dir, relative))
        per_proc[str(proc)] = entry
    logs.update(per_proc["0"])
    if procs > 1:
        logs["procs"] = per_proc
    return logs


def _description_from(value: Any) -> tuple[Any, list[str], int]:
    """Normalise a submit description for storage: (JSON value, input files, procs)."""
    from tethys_compute.condor.describe import _is_condorpy_job

    if _is_condorpy_job(value):
        attributes = {k: v for k, v in value.attributes.items() if k != "job_name" and v != ""}
        procs = int(value.num_jobs or 1)
        attributes["queue"] = procs
        inputs = [str(p) for p in (value.remote_input_files or ())]
        return attributes, inputs, procs
    if isinstance(value, Mapping):
        data = dict(value)
        queue = next((v for k, v in data.items() if str(k).lower() == "queue"), None)
        return data, [], int(queue) if isinstance(queue, int) and queue > 0 else 1
    if isinstance(value, str):
        return value, [], 1
    raise InvalidArgumentError(
        "A Condor job's description must be a mapping of submit commands, submit text or a "
        f"condorpy.Job, not {type(value).__name__}."
    )


def _store_inline_inputs(job: Job) -> None:
    """Write input files given as bytes into the job's workspace; keep their paths."""
    inputs = getattr(job, "input_files", None)
    if not isinstance(inputs, Mapping) or not any(isinstance(v, bytes) for v in inputs.values()):
        return
    from tethys_compute.condor.describe import check_relative_name

    if not job.workspace:
        raise InvalidArgumentError(
            f"Job {job.name!r} has input files given as bytes but no workspace to keep them in."
        )
    folder = Path(job.workspace) / "inputs" / secrets.token_hex(6)
    stored: dict[str, str] = {}
    for name, value in inputs.items():
        name = check_relative_name(str(name), "input file")
        if isinstance(value, bytes):
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(value)
            stored[name] = str(target)
        else:
            stored[name] = str(value)
    job.input_files = stored  # type: ignore[attr-defined]


class CondorControl:
    """What Condor jobs and workflows share: the submit host, control by cluster id, files.

    A plain mixin of :class:`CondorJob` and :class:`CondorWorkflow` (no table).
    """

    if TYPE_CHECKING:
        pk: Any
        name: str
        cluster_id: int | None
        remote_dir: str
        output_files: Any
        workspace: str
        scheduler_id: Any
        objects: Any

    @property
    def condor_host(self) -> RemoteHost:
        """The submit host of the job's scheduler (the SSH layer's cached connection)."""
        return _condor_scheduler(cast(Job, self)).get_remote_host()

    def _stop(self) -> None:
        from tethys_compute import condor

        if self.cluster_id is not None:
            # NOT_FOUND (already left the queue) is fine: it is not running either way.
            condor.remove(self.condor_host, self.cluster_id, reason="stopped by the portal")

    def _control(self, action: str) -> None:
        from tethys_compute import condor
        from tethys_compute.condor import ActionOutcome

        if self.cluster_id is None:
            raise InvalidStatusTransition(f"Job {self.pk} has no HTCondor cluster to {action}.")
        tool = condor.hold if action == "hold" else condor.release
        tool(self.condor_host, self.cluster_id).raise_for_failure(allow=[ActionOutcome.ALREADY])

    def _pause(self) -> None:
        self._control("hold")

    def _resume(self) -> None:
        self._control("release")

    def _before_results(self) -> None:
        if self.output_files and self.remote_dir:
            from tethys_compute import condor

            condor.fetch_outputs(
                self.condor_host, self.remote_dir, self.output_files, self.workspace or "."
            )

    def _clean(self) -> None:
        if self.remote_dir and self.scheduler_id is not None:
            from tethys_compute.condor.cleanup import clean_when_gone
            from tethys_compute.conf import compute_settings

            # Only once the (removed) cluster left the queue: HTCondor writes its abort
            # event into the directory and would re-create it.
            clean_when_gone(
                self.condor_host,
                self.remote_dir,
                self.cluster_id,
                wait=float(compute_settings.CONDOR_REMOVE_WAIT),
            )
            type(self).objects.filter(pk=self.pk).update(remote_dir="")
            self.remote_dir = ""


class CondorJob(CondorAttributesMixin, RemoteIdMixin, CondorControl, Job):
    """A job run by HTCondor on a :class:`~tethys_compute.models.CondorScheduler`.

    ``submit_description`` is a mapping of submit commands (``executable``,
    ``arguments`` as a list, ``output``, ``error``, ``queue``...), submit text,
    or was given as a :class:`condorpy.Job`.  ``input_files`` (paths, or a
    mapping of remote name to path or bytes; bytes are kept in the workspace)
    are uploaded to a fresh remote directory; ``output_files`` are fetched into the workspace
    before the results callback runs.

    With a ``callback_base_url`` and a mapping description, the executable
    runs under a small wrapper that reports "running" and the exit code to
    the job's signed callback URL.

    Examples
    --------
    >>> job = manager.create_job(
    ...     "echo", user, "CONDOR", scheduler=condor_scheduler,
    ...     submit_description={"executable": "/bin/echo", "arguments": ["hi"],
    ...                  "output": "out.txt", "error": "err.txt"})  # doctest: +SKIP
    >>> job.execute()  # doctest: +SKIP
    """

    KIND: ClassVar[str] = "condor"
    JOB_TYPE: ClassVar[str] = "CONDOR"

    submit_description = models.JSONField(
        "submit description", default=dict, blank=True, help_text="Submit commands, or text."
    )
    input_files = models.JSONField("input files", default=list, blank=True)
    output_files = models.JSONField("output files", default=list, blank=True)
    remote_dir = models.CharField("remote directory", max_length=1024, blank=True, default="")
    cluster_id = models.PositiveIntegerField("cluster id", null=True, blank=True)
    num_jobs = models.PositiveIntegerField("procs", default=1)

    class Meta:
        verbose_name = "Condor job"
        verbose_name_plural = "Condor jobs"

    def save(self, *args: Any, **kwargs: Any) -> None:
        _store_inline_inputs(self)
        super().save(*args, **kwargs)

    def set_description(self, value: Any) -> None:
        """Store a mapping, text or :class:`condorpy.Job` as the submit description."""
        data, inputs, procs = _description_from(value)
        self.submit_description = data
        self.num_jobs = procs
        if inputs and not self.input_files:
            self.input_files = inputs

    def _execute(self, *args: Any, **kwargs: Any) -> list[str]:
        from tethys_compute import condor

        host = self.condor_host
        submit = condor_compat.expand_template(self.submit_description, self.name)
        description, wrapper = wrap_condor_description(self, submit, "proc")
        extra: dict[str, Any] = {
            **condor_compat.directory_markers([submit]),
            **condor_compat.executable_copy(submit, self.input_files),
            **condor_compat.into_initialdir(submit, wrapper),
            **wrapper,
        }
        inputs: Any = self.input_files
        if extra:
            inputs = _merge_inputs(self.input_files, extra)
        # The callback URL (and its copy in initialdir) readable by its owner only.
        private = [name for name in extra if posixpath.basename(name) == URL_FILE]
        result = condor.submit(host, description, inputs, private_files=private)
        self.remote_dir = result.remote_dir
        self.cluster_id = result.cluster_id
        self.num_jobs = result.num_jobs
        return ["remote_dir", "cluster_id", "num_jobs"]

    def _fetch_logs(self) -> dict[str, Any]:
        return _condor_logs(
            self.condor_host,
            self.remote_dir,
            condor_compat.log_paths_description(self.submit_description, self.name),
            self.cluster_id,
            self.num_jobs,
        )

    def _forget_run(self) -> None:
        self.cluster_id = None
        type(self).objects.filter(pk=self.pk).update(cluster_id=None)


def _merge_inputs(inputs: Any, extra: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if isinstance(inputs, Mapping):
        merged.update(inputs)
    else:
        for path in inputs or ():
            merged[Path(str(path)).name] = str(path)
    merged.update(extra)
    return merged


class CondorWorkflow(WorkflowCompatMixin, RemoteIdMixin, CondorControl, Job):
    """A DAG of HTCondor jobs (:class:`CondorWorkflowNode`) run by DAGMan.

    Add nodes with :meth:`add_node` (or create them with ``workflow=``), give
    parents with :meth:`CondorWorkflowNode.add_parent`, then :meth:`execute`.
    ``cluster_id`` is the DAGMan job's; each node records its own.

    Examples
    --------
    >>> wf = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=s)  # doctest: +SKIP
    >>> a = wf.add_node("a", {"executable": "/bin/true"})  # doctest: +SKIP
    >>> b = wf.add_node("b", {"executable": "/bin/true"}, parents=[a])  # doctest: +SKIP
    >>> wf.execute()  # doctest: +SKIP
    """

    KIND: ClassVar[str] = "condorworkflow"
    JOB_TYPE: ClassVar[str] = "CONDORWORKFLOW"

    input_files = models.JSONField("input files", default=list, blank=True)
    output_files = models.JSONField("output files", default=list, blank=True)
    remote_dir = models.CharField("remote directory", max_length=1024, blank=True, default="")
    cluster_id = models.PositiveIntegerField("DAGMan cluster id", null=True, blank=True)
    max_jobs = models.PositiveIntegerField(
        "max jobs", null=True, blank=True, help_text="DAGMan's -maxjobs; empty: no limit."
    )
    max_jobs_throttles = models.JSONField(
        "max jobs per category",
        default=dict,
        blank=True,
        help_text="DAGMan's MAXJOBS per node category (add_max_jobs_throttle).",
    )

    class Meta:
        verbose_name = "Condor workflow"
        verbose_name_plural = "Condor workflows"

    def save(self, *args: Any, **kwargs: Any) -> None:
        _store_inline_inputs(self)
        super().save(*args, **kwargs)

    @property
    def nodes(self) -> models.QuerySet[CondorWorkflowNode]:
        return self.node_set.order_by("id")

    def add_node(
        self,
        name: str,
        submit_description: Any,
        parents: Iterable[CondorWorkflowNode] = (),
        *,
        retry: int | None = None,
    ) -> CondorWorkflowNode:
        """Add a node (a job of the DAG) and return it.

        Parameters
        ----------
        name : str
            The node's name in the DAG (letters, digits, ``_``, ``-``, ``.``).
        submit_description : mapping, str or condorpy.Job
            The node job's submit description.
        parents : iterable of CondorWorkflowNode
            Nodes that must finish first.
        retry : int, optional
            DAGMan's ``RETRY`` count.
        """
        if self.pk is None:
            self.save()
        node = CondorWorkflowNode(workflow=self, name=name, retry=retry)
        node.set_description(submit_description)
        node.save()
        for parent in parents:
            node.add_parent(parent)
        return node

    def get_node(self, name: str) -> CondorWorkflowNode | None:
        """The node called ``name`` (Tethys Platform's ``get_job``), or None."""
        return self.node_set.filter(name=name).first()

    def render_dag(self) -> tuple[str, dict[str, Any]]:
        """The DAG file's text and each node's submit description by file name."""
        from tethys_compute.condor.describe import check_relative_name

        nodes = list(self.node_set.order_by("id").prefetch_related("parent_nodes"))
        if not nodes:
            raise InvalidArgumentError(f"Workflow {self.pk} ({self.name!r}) has no nodes.")
        lines: list[str] = []
        files: dict[str, Any] = {}
        for node in nodes:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", node.name):
                raise InvalidArgumentError(
                    f"Node name {node.name!r} must be letters, digits, '_', '-' or '.'."
                )
            sub = check_relative_name(f"{node.name}.sub", "node submit file")
            submit = condor_compat.expand_template(node.submit_description, node.name)
            description, _ = wrap_condor_description(self, submit, node.name)
            files[sub] = description
            lines.append(f"JOB {node.name} {sub}" + condor_compat.node_job_suffix(node))
            if node.retry:
                lines.append(
                    f"RETRY {node.name} {int(node.retry)}" + condor_compat.retry_suffix(node)
                )
            lines += condor_compat.node_dag_lines(node)
        for node in nodes:
            parents = sorted(p.name for p in node.parent_nodes.all())
            if parents:
                lines.append(f"PARENT {' '.join(parents)} CHILD {node.name}")
        lines += condor_compat.throttle_lines(self.max_jobs_throttles)
        return "\n".join(lines) + "\n", files

    def _execute(self, *args: Any, **kwargs: Any) -> list[str]:
        from tethys_compute import condor

        dag_text, files = self.render_dag()
        inputs: Any = self.input_files
        nodes = list(self.node_set.all())
        node_inputs = [p for n in nodes for p in n.input_files or ()]
        expanded = [(n, condor_compat.expand_template(n.submit_description, n.name)) for n in nodes]
        markers = condor_compat.directory_markers(d for _, d in expanded)
        url = self.get_callback_url()
        pushes = wrapper_files(url) if url else {}
        for node, description in expanded:
            markers.update(condor_compat.executable_copy(description, node.input_files))
            markers.update(condor_compat.into_initialdir(description, pushes))
        if node_inputs or markers:
            inputs = _merge_inputs(inputs, {})
            inputs.update(_merge_inputs(node_inputs, markers))
        if pushes:
            inputs = _merge_inputs(inputs, pushes)
        # The callback URL (and its copies in initialdirs) readable by its owner only.
        private = [name for name in [*pushes, *markers] if posixpath.basename(name) == URL_FILE]
        result = condor.submit_dag(self.condor_host, dag_text, files, inputs, private_files=private)
        self.remote_dir = result.remote_dir
        self.cluster_id = result.cluster_id
        # Pending until DAGMan submits them (the refresher then sees their node jobs).
        self.node_set.update(
            status_code=JobStatus.PENDING, cluster_id=None, exit_code=None, status_message=""
        )
        self.node_set.filter(parent_nodes__isnull=False).update(
            status_message="waiting for parents"
        )
        return ["remote_dir", "cluster_id"]

    def _stop(self) -> None:
        super()._stop()
        self._stopped_here()

    def _stopped_here(self) -> None:
        self.node_set.exclude(status_code__in=FINAL_STATUSES).update(status_code=JobStatus.ABORTED)

    def _fetch_logs(self) -> dict[str, Any]:
        host = self.condor_host
        logs: dict[str, Any] = {"stdout": "", "stderr": "", "nodes": {}}
        for node in self.node_set.order_by("id"):
            description = condor_compat.log_paths_description(node.submit_description, node.name)
            logs["nodes"][node.name] = _condor_logs(
                host, self.remote_dir, description, node.cluster_id, 1
            )
        if self.remote_dir:
            dag_out = posixpath.join(self.remote_dir, "workflow.dag.dagman.out")
            logs["stdout"] = _read_remote_text(host, dag_out, limit=200_000)
        return logs

    def _forget_run(self) -> None:
        self.cluster_id = None
        type(self).objects.filter(pk=self.pk).update(cluster_id=None)
        self.node_set.update(status_code=JobStatus.PENDING, cluster_id=None, exit_code=None)


class CondorWorkflowNode(CondorAttributesMixin, DagNodeOptions):
    """One job of a :class:`CondorWorkflow` (Tethys Platform's ``CondorWorkflowJobNode``).

    Its status uses the same codes as jobs; it is written by the refresher
    and by the node's pushes, and shown on the workflow's admin page.
    """

    workflow = models.ForeignKey(
        CondorWorkflow, verbose_name="workflow", on_delete=models.CASCADE, related_name="node_set"
    )
    name = models.CharField("name", max_length=255)
    submit_description = models.JSONField("submit description", default=dict, blank=True)
    parent_nodes = models.ManyToManyField(
        "self", verbose_name="parents", symmetrical=False, blank=True, related_name="children"
    )
    retry = models.PositiveSmallIntegerField("retries", null=True, blank=True)
    cluster_id = models.PositiveIntegerField("cluster id", null=True, blank=True)
    status_code = models.CharField(
        "status", max_length=3, choices=JobStatus.choices, default=JobStatus.PENDING
    )
    status_message = models.TextField("status message", blank=True, default="")
    exit_code = models.IntegerField("exit code", null=True, blank=True)
    updated_at = models.DateTimeField("updated", null=True, blank=True)

    class Meta:
        verbose_name = "workflow node"
        verbose_name_plural = "workflow nodes"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "name"], name="tc_node_unique_name"),
        ]

    #: Tethys Platform: a node's files are relative to the workflow's directory.
    workspace = "."

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_code_display()})"

    @property
    def status(self) -> str:
        return JobStatus(self.status_code).label

    @property
    def type(self) -> str:
        """Tethys Platform's node type: every node here is a ``"JOB"`` node."""
        return "JOB"

    @property
    def parents(self) -> models.QuerySet[CondorWorkflowNode]:
        return self.parent_nodes.all()

    def add_parent(self, parent: CondorWorkflowNode) -> None:
        """Make ``parent`` run before this node."""
        if parent.workflow_id != self.workflow_id:
            raise InvalidArgumentError("A node's parent must belong to the same workflow.")
        self.parent_nodes.add(parent)

    def set_description(self, value: Any) -> None:
        data, _inputs, _procs = _description_from(value)
        self.submit_description = data


# ----------------------------------------------------------------------
# Dask
# ----------------------------------------------------------------------
#: Futures of Dask jobs submitted by this process, kept until their done callback ran.
_live_futures: dict[str, Future] = {}


def _dask_scheduler(job: Job) -> DaskScheduler:
    from tethys_compute.models.dask import DaskScheduler

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

        from tethys_compute.conf import compute_settings
        from tethys_compute.dask_code import check_code, graph_modules

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
        from tethys_compute.conf import compute_settings

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
            from tethys_compute.exceptions import SchedulerConnectionError

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


def job_types() -> dict[str, type[Job]]:
    """``job_type`` names of :meth:`JobManager.create_job` to their kinds."""
    return {
        "BASIC": BasicJob,
        "CONDOR": CondorJob,
        "CONDORJOB": CondorJob,
        "CONDORWORKFLOW": CondorWorkflow,
        "DASK": DaskJob,
    }
