"""Tethys Platform's status names on every job: lists, custom statuses, ``update_status``.

:class:`TethysStatusMixin` is a base of :class:`~tethys_compute.models.Job`.
It gives jobs what Tethys Platform's ``TethysJob`` has for statuses:

* the class lists ``STATUSES``, ``VALID_STATUSES`` (codes),
  ``DISPLAY_STATUSES`` (names), ``REVERSE_STATUSES`` and the categories
  ``PRE_RUNNING_STATUSES``, ``RUNNING_STATUSES``, ``ACTIVE_STATUSES``,
  ``NON_TERMINAL_STATUSES``, ``TERMINAL_STATUSES`` (display names),
  ``NON_TERMINAL_STATUS_CODES`` and ``TERMINAL_STATUS_CODES``, with the
  ``add_custom_*_status`` class methods that extend them;
* ``cached_status``: the stored status's name, or the app's own name for a
  custom status (stored as ``OTH`` with the name in ``extended_properties``
  under ``OTHER_STATUS_KEY``);
* ``update_status(status)``: the app sets a status, any status, as in Tethys
  (the conditional, versioned update of :mod:`tethys_compute.jobs.status`
  still applies, so a stale poll cannot overwrite it); ``update_status()``
  asks the scheduler now, at most once per ``update_status_interval``.

The class lists are Tethys' (display names).  The module-level
``tethys_compute.jobs.status.ACTIVE_STATUSES`` is a different thing: the
*codes* the refresher polls.
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils import timezone

from tethys_compute.exceptions import InvalidArgumentError, TethysComputeError
from tethys_compute.models.hooks import hooks
from tethys_compute.models.status_update import (
    MAX_ATTEMPTS,
    _job_rows,
    _reload_status,
    _timestamps,
)
from tethys_compute.status import ACTIVE_STATUSES as POLLED_CODES
from tethys_compute.status import JobStatus

if TYPE_CHECKING:
    from tethys_compute.models.job import Job

logger = logging.getLogger(__name__)

__all__ = ["TethysStatusMixin", "tethys_status_code"]

S = JobStatus

#: Tethys Platform's order of its statuses (its lists are slices of it).
_TETHYS_ORDER = (
    S.PENDING,
    S.SUBMITTED,
    S.RUNNING,
    S.VARIOUS,
    S.PAUSED,
    S.COMPLETE,
    S.ERROR,
    S.ABORTED,
    S.VARIOUS_COMPLETE,
    S.RESULTS_READY,
    S.OTHER,
)
_STATUSES = tuple((s.value, s.label) for s in _TETHYS_ORDER)
_CODES = [code for code, _ in _STATUSES]
_NAMES = [name for _, name in _STATUSES]

#: How long a job waits between two ``update_status()`` polls (Tethys' default).
DEFAULT_UPDATE_INTERVAL = datetime.timedelta(seconds=10)


def tethys_status_code(value: str) -> tuple[str, str | None]:
    """``(code, custom name)`` for a status as Tethys takes it: code, display name, or custom.

    Examples
    --------
    >>> tethys_status_code("RUN"), tethys_status_code("Complete")
    (('RUN', None), ('COM', None))
    >>> tethys_status_code("Waiting for review")
    ('OTH', 'Waiting for review')
    """
    if value in _CODES:
        return value, None
    if value in _NAMES:
        return _CODES[_NAMES.index(value)], None
    return S.OTHER.value, value


class TethysStatusMixin:
    """Tethys Platform's status lists and methods (a base of :class:`Job`; no table)."""

    if TYPE_CHECKING:
        pk: Any
        status_code: str
        status_version: int
        status_message: str
        extended_properties: Any
        execute_time: Any
        scheduler_id: Any

    STATUSES: ClassVar[tuple[tuple[str, str], ...]] = _STATUSES
    VALID_STATUSES: ClassVar[list[str]] = list(_CODES)
    DISPLAY_STATUSES: ClassVar[list[str]] = list(_NAMES)
    REVERSE_STATUSES: ClassVar[dict[str, str]] = {name: code for code, name in _STATUSES}

    PRE_RUNNING_STATUSES: ClassVar[list[str]] = _NAMES[:2]
    RUNNING_STATUSES: ClassVar[list[str]] = _NAMES[2:4]
    ACTIVE_STATUSES: ClassVar[list[str]] = _NAMES[1:5]
    NON_TERMINAL_STATUSES: ClassVar[list[str]] = _NAMES[0:5]
    TERMINAL_STATUSES: ClassVar[list[str]] = _NAMES[5:-1]

    NON_TERMINAL_STATUS_CODES: ClassVar[list[str]] = _CODES[0:5]
    TERMINAL_STATUS_CODES: ClassVar[list[str]] = _CODES[5:-1]

    #: Key of ``extended_properties`` that holds a custom status's name.
    OTHER_STATUS_KEY: ClassVar[str] = "__other_status__"

    # ------------------------------------------------------------------
    # Custom statuses (class lists, shared by every kind as in Tethys)
    # ------------------------------------------------------------------
    @classmethod
    def _add_custom_status(cls, status: str, categories: tuple[list[str], ...]) -> None:
        for names in categories:
            if status not in names:
                names.append(status)

    @classmethod
    def add_custom_pre_running_status(cls, status: str) -> None:
        """Count ``status`` as pre-running (and non-terminal)."""
        cls._add_custom_status(status, (cls.PRE_RUNNING_STATUSES, cls.NON_TERMINAL_STATUSES))

    @classmethod
    def add_custom_running_status(cls, status: str) -> None:
        """Count ``status`` as running (and active, and non-terminal)."""
        cls._add_custom_status(
            status, (cls.RUNNING_STATUSES, cls.ACTIVE_STATUSES, cls.NON_TERMINAL_STATUSES)
        )

    @classmethod
    def add_custom_active_status(cls, status: str) -> None:
        """Count ``status`` as active (and non-terminal)."""
        cls._add_custom_status(status, (cls.ACTIVE_STATUSES, cls.NON_TERMINAL_STATUSES))

    @classmethod
    def add_custom_terminal_status(cls, status: str) -> None:
        """Count ``status`` as terminal."""
        cls._add_custom_status(status, (cls.TERMINAL_STATUSES,))

    # ------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------
    @property
    def cached_status(self) -> str:
        """The stored status's display name; for a custom status, its own name.

        Never contacts the scheduler.
        """
        name = JobStatus(self.status_code).label
        if self.status_code == S.OTHER:
            return str((self.extended_properties or {}).get(self.OTHER_STATUS_KEY, name))
        return name

    @property
    def update_status_interval(self) -> datetime.timedelta:
        """The least time between two polls of ``update_status()`` (10 s; Dask jobs 0)."""
        value = self.__dict__.get("_update_status_interval")
        return value if value is not None else self._default_update_interval()

    @update_status_interval.setter
    def update_status_interval(self, value: datetime.timedelta) -> None:
        self.__dict__["_update_status_interval"] = value

    def _default_update_interval(self) -> datetime.timedelta:
        return DEFAULT_UPDATE_INTERVAL

    @property
    def last_status_update(self) -> datetime.datetime:
        """When the scheduler was last asked about the job.

        The later of this object's last ``update_status()`` poll (Tethys:
        else the submission time, else one interval ago) and the last good
        refresh recorded in the database (by any process), so that requests
        to the status URL cannot make the portal poll more often than
        ``update_status_interval``.
        """
        last = self.__dict__.get("_last_status_update")
        if last is None:
            last = self.execute_time or timezone.now() - self.update_status_interval
            self.__dict__["_last_status_update"] = last
        refreshed = getattr(self, "last_refresh_ok_at", None)
        return max(last, refreshed) if refreshed is not None else last  # type: ignore[no-any-return]

    def is_time_to_update(self) -> bool:
        """True when ``update_status_interval`` has passed since the last poll (or none was)."""
        last = self.last_status_update  # first: it may be set from "now" on first use
        return timezone.now() - last >= self.update_status_interval

    async def safe_close(self) -> None:
        """Tethys Platform's hook to close asynchronous connections; nothing to close here."""
        return None

    # ------------------------------------------------------------------
    # Writing
    # ------------------------------------------------------------------
    def update_status(self, status: str | None = None, *args: Any, **kwargs: Any) -> None:
        """Tethys Platform's ``update_status``.

        With ``status`` (a code, a display name, or any other text for a
        custom status), the job takes that status; any move is allowed, as
        in Tethys (use :meth:`set_status` for the checked state model).  A
        job set to Results-Ready has its results processed at once.

        Without ``status``, an active job's scheduler is asked now (one
        bounded round trip, as ``manage.py compute_refresh`` does), at most
        once per :attr:`update_status_interval`; a job found Results-Ready has
        its results processed, as in Tethys.
        """
        job: Job = self  # type: ignore[assignment]
        if status:
            _force_status(job, str(status), kwargs.get("message"))
            if job.status_code == S.RESULTS_READY:
                job.process_results()
            return
        if job.pk is None or job.scheduler_id is None or job.status_code not in POLLED_CODES:
            return
        if not self.is_time_to_update():
            return
        hooks.refresher([job])
        self.__dict__["_last_status_update"] = timezone.now()
        job.refresh_status()
        if job.status_code == S.RESULTS_READY:
            # Tethys Platform processes the results of a job found finished.
            try:
                job.process_results()
            except TethysComputeError as exc:
                logger.warning("Job %s: results not processed yet: %s", job.pk, exc)


def _force_status(job: Job, value: str, message: str | None = None) -> None:
    """Give ``job`` the status ``value`` whatever it is now (one conditional update)."""
    code, custom = tethys_status_code(value)
    if job.pk is None:
        job.save()
    table = _job_rows(job)
    for _ in range(MAX_ATTEMPTS):
        row = table.values_list("status_version", "extended_properties").first()
        if row is None:
            raise InvalidArgumentError(f"Job {job.pk} no longer exists.")
        version, stored = row
        # Properties set on this object and not saved yet are kept, as Tethys saves them.
        props = dict(stored or {})
        props.update(job.extended_properties or {})
        if custom is None:
            props.pop(TethysStatusMixin.OTHER_STATUS_KEY, None)
        else:
            props[TethysStatusMixin.OTHER_STATUS_KEY] = custom
        now = timezone.now()
        values: dict[str, Any] = {
            "status_code": code,
            "status_version": version + 1,
            "status_changed_at": now,
            "extended_properties": props,
            **_timestamps(code, now),
        }
        if message is not None:
            values["status_message"] = message[:2000]
        if table.filter(status_version=version).update(**values):
            job.extended_properties = props
            _reload_status(job)
            logger.info("Job %s: status set to %s by the app", job.pk, custom or code)
            return
    raise InvalidArgumentError(
        f"Job {job.pk} kept changing while its status was set to {value!r}; set it again."
    )
