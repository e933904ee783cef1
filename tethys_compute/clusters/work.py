"""The claim on a cluster and the thread that works on it.

Used by :mod:`~tethys_compute.clusters.service`.

An operation claims the row with one conditional UPDATE (:func:`_claim`: it
fails when another operation holds it), runs in a background thread
(:func:`_spawn`) and always settles the row at the end (:func:`_settled`:
the final status, or the previous one with the error).  The deadlines come
from the template's ``START_TIMEOUT`` (:func:`_limit`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from tethys_compute.clusters.cluster import Cluster, strip_tag
from tethys_compute.clusters.exceptions import (
    InvalidOperation,
)
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models.cluster import ClusterStatus

logger = logging.getLogger("tethys_compute.clusters.service")

_threads: dict[str, threading.Thread] = {}
_threads_lock = threading.Lock()
#: Cluster name -> what a forced termination may have left at the provider.
_leftovers: dict[str, str] = {}


def is_working(name: str) -> bool:
    """True while this process runs an operation on cluster ``name``."""
    with _threads_lock:
        thread = _threads.get(strip_tag(name))
        return thread is not None and thread.is_alive()


def _limit(cluster: Cluster | None) -> float:
    """Seconds without progress after which a busy status counts as interrupted."""
    if cluster is None:
        return 300.0
    return float(cluster.template.get("start_timeout") or 300)


def _way_out(record: ClusterRecord, limit: float) -> str:
    """What to do when ``record`` refuses an operation."""
    if record.is_busy:
        return (
            f"Wait for that operation to end (it is marked failed after {limit:g} s without "
            f"progress), or remove the cluster with `manage.py clusters terminate "
            f"{record.name} --force` or the admin action 'Terminate (force)'."
        )
    if record.status == ClusterStatus.STOPPED:
        return "Start it first, or terminate it."
    return "Terminate it and start it again."


def _claim(
    record: ClusterRecord,
    status: str,
    message: str,
    allowed: tuple[str, ...],
    limit: float = 300.0,
) -> str:
    """Move the row to the busy ``status`` if it is in one of ``allowed``; else refuse.

    Returns the status the row had before (to restore when the work changes nothing).
    """
    previous = ClusterRecord.objects.filter(pk=record.pk).values_list("status", flat=True).first()
    now = timezone.now()
    changed = ClusterRecord.objects.filter(pk=record.pk, status__in=allowed).update(
        status=status, status_message=message, status_changed=now, modified=now
    )
    if not changed:
        record.refresh_from_db()
        raise InvalidOperation(
            f"cluster {record.name!r} is {record.get_status_display().lower()}"
            f"{': ' + record.status_message.rstrip('. ') if record.status_message else ''}; "
            f"this operation is not possible now. {_way_out(record, limit)}"
        )
    record.refresh_from_db()
    return str(previous or ClusterStatus.ERROR)


def _settled(
    pk: int, name: str, doing: str, previous: str, work: Callable[[], Any]
) -> Callable[[], Any]:
    """``work`` that always leaves the row in a final status (never busy).

    The cluster's own methods record their outcome; when they return or fail
    without doing so (nothing to change, an error before their first step),
    the row gets ``previous`` back, or ``ERR`` with the reason.
    """

    def run() -> Any:
        error: BaseException | None = None
        try:
            return work()
        except BaseException as exc:
            error = exc
            raise
        finally:
            row = ClusterRecord.objects.filter(pk=pk).first()
            if row is not None and row.is_busy:
                if error is not None:
                    row.set_status(ClusterStatus.ERROR, f"{doing} failed: {error}")
                elif previous in ClusterRecord.BUSY:
                    row.set_status(ClusterStatus.ERROR, f"{doing} ended without a result")
                else:
                    text = "running" if previous == ClusterStatus.RUNNING else doing
                    row.set_status(previous, f"{text}; {doing} changed nothing")
                logger.info("cluster %s: %s -> %s", name, doing, row.status)

    return run


def _spawn(name: str, work: Callable[[], Any], background: bool) -> None:
    def target() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - the cluster recorded ERR with the reason
            logger.info("cluster %s: background operation failed", name, exc_info=True)
        finally:
            connections.close_all()

    if not background:
        work()
        return
    with _threads_lock:
        current = _threads.get(name)
        if current is not None and current.is_alive():
            raise InvalidOperation(f"an operation on cluster {name!r} is already running.")
        thread = threading.Thread(target=target, name=f"tethys-cluster-{name}", daemon=True)
        _threads[name] = thread
    # Inside a transaction (an admin view), the thread must see the committed row.
    transaction.on_commit(thread.start)
