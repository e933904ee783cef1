"""Dask schedulers: the address of a ``dask.distributed`` scheduler."""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from tethys_compute.models.scheduler import Scheduler
from tethys_compute.validators import validate_dashboard, validate_dask_address


class DaskScheduler(Scheduler):
    """A ``dask.distributed`` scheduler.

    ``host`` is the scheduler's address as :class:`distributed.Client` takes
    it: ``host:port``, ``tcp://host:port`` or ``tls://host:port``.
    ``timeout`` is in **seconds** and ``heartbeat_interval`` in
    **milliseconds**, the units ``distributed.Client`` gives plain numbers;
    leave either empty (or 0) for the defaults.  ``dashboard`` is the
    dashboard's ``host:port`` or URL.
    """

    KIND: ClassVar[str] = "dask"

    timeout = models.FloatField(
        "connect timeout (seconds)",
        null=True,
        blank=True,
        help_text="Seconds to wait for the scheduler when connecting. Empty: the portal "
        "default (TETHYS_COMPUTE['DASK_CONNECT_TIMEOUT']).",
    )
    heartbeat_interval = models.PositiveIntegerField(
        "heartbeat interval (milliseconds)",
        null=True,
        blank=True,
        help_text="Milliseconds between the client's heartbeats to the scheduler. Empty: "
        "Dask's default.",
    )
    dashboard = models.CharField(
        "dashboard",
        max_length=1024,
        blank=True,
        default="",
        validators=[validate_dashboard],
        help_text="Dashboard address, e.g. localhost:8787 or http://dask.example.com:8787. "
        "Empty: asked from the scheduler.",
    )

    class Meta:
        verbose_name = "Dask scheduler"
        verbose_name_plural = "Dask schedulers"

    def clean_fields(self, exclude: object = None) -> None:
        if self.dashboard is None:
            self.dashboard = ""
        super().clean_fields(exclude=exclude)  # type: ignore[arg-type]

    def clean(self) -> None:
        super().clean()
        from django.core.exceptions import ValidationError

        errors: dict[str, list[str]] = {}
        try:
            validate_dask_address(self.host)
        except ValidationError as exc:
            errors["host"] = list(exc.messages)
        if self.timeout is not None and self.timeout < 0:
            errors["timeout"] = ["The timeout is in seconds and cannot be negative."]
        if errors:
            raise ValidationError(errors)
