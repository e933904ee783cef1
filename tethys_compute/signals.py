"""Signal receivers: keep process-wide caches in step with the records.

Receivers only drop cached connections; they never contact a remote system
and never start background work.  Each connection layer registers a closer
with :func:`register_closer`; a saved or deleted scheduler calls every closer
with the record.  The transports' own closers (SSH connections, Dask clients)
live on the records side, in :mod:`tethys_compute.models.connections`, and are
registered here: the transports never import this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tethys_compute.models import Scheduler
from tethys_compute.models.connections import close_dask_clients, close_ssh_connections

logger = logging.getLogger(__name__)

_closers: list[Callable[[Scheduler], None]] = []


def register_closer(closer: Callable[[Scheduler], None]) -> None:
    """Call ``closer(scheduler)`` whenever a scheduler record changes or is deleted."""
    if closer not in _closers:
        _closers.append(closer)


register_closer(close_ssh_connections)
register_closer(close_dask_clients)


def _close_for(instance: Any) -> None:
    for closer in _closers:
        try:
            closer(instance)
        except Exception:  # noqa: BLE001 - a failing close must not break saving
            logger.exception("Closing cached connections of %r failed", instance)


@receiver(post_save, dispatch_uid="tethys_compute_scheduler_saved")
def _scheduler_saved(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    if isinstance(instance, Scheduler) and not created and not kwargs.get("raw"):
        _close_for(instance)


@receiver(post_delete, dispatch_uid="tethys_compute_scheduler_deleted")
def _scheduler_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    if isinstance(instance, Scheduler):
        _close_for(instance)
