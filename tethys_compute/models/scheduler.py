"""The base :class:`Scheduler` record and its polymorphic manager."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

from django.db import models
from django.db.models.deletion import ProtectedError
from django.db.models.functions import Length, Lower
from django.utils import timezone
from model_utils.managers import InheritanceManager, InheritanceQuerySet
from model_utils.models import TimeStampedModel

from tethys_compute.exceptions import SchedulerInUseError
from tethys_compute.health import HealthResult

models.CharField.register_lookup(Length)


#: The refusals of :func:`~tethys_compute.models.job.protect_active_jobs` (``on_delete`` of
#: ``Job.scheduler``) during one scheduler delete.
_refused_deletes: ContextVar[list[SchedulerInUseError] | None] = ContextVar(
    "tethys_compute_refused_deletes", default=None
)


@contextmanager
def refusing_scheduler_deletes() -> Iterator[None]:
    """Around a scheduler delete: raise :class:`SchedulerInUseError`, not Django's rewording.

    Django's collector replaces the error
    :func:`~tethys_compute.models.job.protect_active_jobs` raised
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


class SchedulerQuerySet(InheritanceQuerySet):  # type: ignore[type-arg]
    """Querysets of schedulers; :meth:`typed` yields the concrete kinds in one query."""

    def typed(self) -> SchedulerQuerySet:
        """Return the concrete subclasses (CondorScheduler, DaskScheduler), one SQL query."""
        return self.select_subclasses()  # type: ignore[return-value]

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the schedulers; refused with SchedulerInUseError while jobs are active."""
        with refusing_scheduler_deletes():
            return super().delete()


class SchedulerManager(InheritanceManager):  # type: ignore[type-arg]
    """``Scheduler.objects``: an InheritanceManager with :meth:`typed`."""

    _queryset_class = SchedulerQuerySet

    def get_queryset(self) -> SchedulerQuerySet:
        return SchedulerQuerySet(self.model, using=self._db)

    def typed(self) -> SchedulerQuerySet:
        return self.get_queryset().typed()


#: The fields of a scheduler's last connection test.
_CHECK_FIELDS = ("last_check_ok", "last_check_at", "last_check_summary", "last_check_details")


class Scheduler(TimeStampedModel):
    """A compute scheduler available to the portal's apps.

    The concrete kinds are :class:`~tethys_compute.models.CondorScheduler` and
    :class:`~tethys_compute.models.DaskScheduler` (multi-table inheritance).
    ``Scheduler.objects.typed()`` returns them as their own classes in one query.
    """

    #: Short name of the kind ("condor", "dask"); set by each subclass.
    KIND: ClassVar[str] = ""

    name = models.CharField(
        "name",
        max_length=255,
        unique=True,
        help_text="Unique name apps use to find this scheduler, e.g. 'Default'.",
    )
    host = models.CharField(
        "host",
        max_length=1024,
        help_text="Where the scheduler is; the format depends on the kind.",
    )
    description = models.TextField("description", blank=True, default="")

    last_check_ok = models.BooleanField("last check passed", null=True, blank=True, editable=False)
    last_check_at = models.DateTimeField("last checked", null=True, blank=True, editable=False)
    last_check_summary = models.CharField(
        "last check result", max_length=1000, blank=True, default="", editable=False
    )
    last_check_details = models.JSONField(
        "last check details", null=True, blank=True, editable=False
    )

    objects = SchedulerManager()

    class Meta:
        verbose_name = "scheduler"
        verbose_name_plural = "schedulers"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(name__length__gt=0),
                name="tethys_compute_scheduler_name_nonempty",
            ),
            # 'Default' and 'default' would be one typo apart: one of them only.
            models.UniqueConstraint(
                Lower("name"),
                name="tethys_compute_scheduler_name_ci_unique",
                violation_error_message="A scheduler with this name already exists (names are "
                "compared without regard to case).",
            ),
        ]

    #: Fields that hold secrets (never shown, never compared in plain text).
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ()

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name!r} host={self.host!r}>"

    @property
    def scheduler_type(self) -> str:
        """The kind of scheduler: ``"condor"`` or ``"dask"``."""
        return self.KIND

    def validate_unique(self, exclude: Any = None) -> None:
        # The case-insensitive name constraint reports a taken name (validate_constraints);
        # the field's own unique check would say it a second time, in other words.
        super().validate_unique(exclude={*(exclude or ()), "name"})

    def clean_fields(self, exclude: Any = None) -> None:
        if isinstance(self.name, str):
            self.name = self.name.strip()
        if isinstance(self.host, str):
            self.host = self.host.strip()
        super().clean_fields(exclude=exclude)

    #: Fields that say where the scheduler is; when one changes, the last
    #: connection test (which was about the old place) is forgotten.
    TARGET_FIELDS: tuple[str, ...] = ("host",)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if isinstance(self.name, str):
            self.name = self.name.strip()
        if self._forget_check_of_old_target(kwargs.get("update_fields")):
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], *_CHECK_FIELDS}
        super().save(*args, **kwargs)

    def _forget_check_of_old_target(self, update_fields: Any) -> bool:
        """Clear the last check when the record now points somewhere else (one query)."""
        if self.pk is None or self.last_check_at is None:
            return False
        if update_fields is not None and not set(update_fields) & set(self.TARGET_FIELDS):
            return False
        saved = type(self).objects.filter(pk=self.pk).values(*self.TARGET_FIELDS).first()
        if saved is None or all(
            str(getattr(self, name) or "").strip() == str(saved[name] or "").strip()
            for name in self.TARGET_FIELDS
        ):
            return False
        self.last_check_ok = self.last_check_at = None
        self.last_check_summary, self.last_check_details = "", None
        return True

    # ------------------------------------------------------------------
    # Health
    # ------------------------------------------------------------------
    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Delete the scheduler; finished jobs keep their history (``scheduler_name``).

        Raises
        ------
        tethys_compute.exceptions.SchedulerInUseError
            (a ``ProtectedError``) while jobs are active on it; nothing is deleted.
        """
        with refusing_scheduler_deletes():
            return super().delete(*args, **kwargs)

    def test_connection(self) -> HealthResult:
        """Check that the scheduler answers; each kind overrides this.

        Returns
        -------
        HealthResult
            What worked and what failed; see :mod:`tethys_compute.health`.
        """
        return HealthResult.not_checked(
            f"scheduler {self.name!r}", "this kind of scheduler has no connection test"
        )

    def record_health(self, result: HealthResult) -> None:
        """Store a connection test's outcome on the record (one UPDATE)."""
        self.last_check_ok = result.ok if result.checked else None
        self.last_check_at = timezone.now()
        self.last_check_summary = result.summary[:1000]
        self.last_check_details = result.as_dict()
        type(self).objects.filter(pk=self.pk).update(
            last_check_ok=self.last_check_ok,
            last_check_at=self.last_check_at,
            last_check_summary=self.last_check_summary,
            last_check_details=self.last_check_details,
        )

    def check_health(self) -> HealthResult:
        """Run :meth:`test_connection` and store its result."""
        result = self.test_connection()
        self.record_health(result)
        return result
