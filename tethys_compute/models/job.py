"""Jobs: the base :class:`Job` record, its querysets, and its kinds re-exported.

Each kind has its own module: :mod:`~tethys_compute.models.basic_job`,
:mod:`~tethys_compute.models.condor_job` (with
:mod:`~tethys_compute.models.condor_logs`, the Condor log and input helpers),
:mod:`~tethys_compute.models.condor_workflow` and
:mod:`~tethys_compute.models.dask_job`; every name stays importable from here.

One table holds what every job has (who, which app, which scheduler, status,
timestamps, cached logs); each kind adds its own table (multi-table
inheritance).  ``Job.objects.select_subclasses()`` returns each row as its
own kind in one query (django-model-utils' ``InheritanceManager``).

Reading a status never contacts a scheduler: :attr:`Job.status` is the
stored value.  Statuses change through :mod:`tethys_compute.models.status_update`
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
import secrets
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, Self

from django.conf import settings
from django.db import models
from django.db.models.deletion import Collector, ProtectedError
from django.utils import timezone
from django.utils.module_loading import import_string
from model_utils.managers import InheritanceManager, InheritanceQuerySet

from tethys_compute.exceptions import (
    InvalidStatusTransition,
    SchedulerConnectionError,
    SchedulerInUseError,
    TethysComputeError,
)
from tethys_compute.models.callback_tokens import callback_url
from tethys_compute.models.chunked import ChunkedInheritanceIterable
from tethys_compute.models.results_retry import failure_message, next_try
from tethys_compute.models.saved_fields import SavedFieldsMixin
from tethys_compute.models.scheduler import Scheduler
from tethys_compute.models.status_update import StatusChange, apply_status, reset
from tethys_compute.models.tethys_status import TethysStatusMixin
from tethys_compute.status import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    JobStatus,
    parse_status,
)
from tethys_compute.value_fields import ImportPathField

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


# The job kinds, each in its own module, import Job from here; their names
# stay importable from this module (Tethys apps and migrations use them).
from tethys_compute.models.basic_job import BasicJob  # noqa: E402
from tethys_compute.models.condor_job import CondorControl, CondorJob  # noqa: E402
from tethys_compute.models.condor_logs import _store_inline_inputs  # noqa: E402
from tethys_compute.models.condor_workflow import (  # noqa: E402
    CondorWorkflow,
    CondorWorkflowNode,
)
from tethys_compute.models.dask_job import (  # noqa: E402
    DaskJob,
    _live_futures,
    remote_traceback,
)

#: Names kept importable from this module (not part of ``__all__``).
_REEXPORTED = (CondorControl, _store_inline_inputs, _live_futures, remote_traceback)


def job_types() -> dict[str, type[Job]]:
    """``job_type`` names of :meth:`JobManager.create_job` to their kinds."""
    return {
        "BASIC": BasicJob,
        "CONDOR": CondorJob,
        "CONDORJOB": CondorJob,
        "CONDORWORKFLOW": CondorWorkflow,
        "DASK": DaskJob,
    }
