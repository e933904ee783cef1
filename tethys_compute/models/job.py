"""Jobs: the base :class:`Job` record, its querysets, and its kinds re-exported.

Its life cycle (execute, stop, results, clean, delete) is
:class:`~tethys_compute.models.job_lifecycle.JobLifecycleMixin`.

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
from collections.abc import Collection
from typing import Any, ClassVar, Self

from django.conf import settings
from django.db import models
from django.db.models.deletion import Collector
from django.utils import timezone
from model_utils.managers import InheritanceManager, InheritanceQuerySet

from tethys_compute.exceptions import (
    SchedulerInUseError,
)
from tethys_compute.models.callback_tokens import callback_url
from tethys_compute.models.chunked import ChunkedInheritanceIterable
from tethys_compute.models.job_lifecycle import JobLifecycleMixin
from tethys_compute.models.saved_fields import SavedFieldsMixin
from tethys_compute.models.scheduler import Scheduler, _refused_deletes
from tethys_compute.models.scheduler import (  # moved down: a scheduler's delete uses it
    refusing_scheduler_deletes as refusing_scheduler_deletes,
)
from tethys_compute.models.status_update import StatusChange, apply_status
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
    :func:`~tethys_compute.models.scheduler.refusing_scheduler_deletes`).

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


class Job(JobLifecycleMixin, SavedFieldsMixin, TethysStatusMixin, models.Model):
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
