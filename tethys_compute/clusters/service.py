"""Cluster operations off the request thread, with their status recorded.

The admin page, the ``clusters`` command and app code call these functions;
each checks its arguments at once (so a bad template or size fails in the
caller), marks the row busy with one conditional UPDATE (so two operations
never run on one cluster at the same time), then does the work in a
background thread that records progress, and ``RUN``/``STP``/``ERR`` at the
end, on the row (TethysCluster's codes).  Nothing here runs in a model
``save()`` or a signal.

Every wait is bounded: a start or resize gives up after the template's
``START_TIMEOUT``, and :func:`refresh_cluster` marks a cluster whose
operation was interrupted (its process died) as ``ERR`` once that time has
passed without progress.

Examples
--------
>>> from tethys_compute.clusters import service
>>> record = service.start_cluster("dev", "c1", config_path="/etc/tc/config")  # doctest: +SKIP
>>> service.wait(record.name, timeout=120).status  # doctest: +SKIP
'RUN'
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from tethys_compute.clusters.active_jobs import check_active_jobs
from tethys_compute.clusters.cluster import Cluster, strip_tag
from tethys_compute.clusters.exceptions import (
    ClusterDoesNotExist,
    ClusterExists,
)
from tethys_compute.clusters.manager import ClusterManager, get_cluster_manager
from tethys_compute.clusters.work import (
    _claim,
    _leftovers,
    _limit,
    _settled,
    _spawn,
    _threads,
    _threads_lock,
    _way_out,
    is_working,
)
from tethys_compute.exceptions import InvalidArgumentError, TethysComputeError
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import Scheduler
from tethys_compute.models.cluster import ClusterStatus

__all__ = [
    "is_working",
    "refresh_cluster",
    "resize_cluster",
    "start_cluster",
    "stop_cluster",
    "terminate_cluster",
    "wait",
]

logger = logging.getLogger(__name__)


def _manager_for(config_path: str | None) -> ClusterManager:
    return get_cluster_manager(config_path or None)


def _record(name: str) -> ClusterRecord:
    try:
        return ClusterRecord.objects.get(name=strip_tag(name))
    except ClusterRecord.DoesNotExist:
        raise ClusterDoesNotExist(strip_tag(name)) from None


def _restart(
    existing: ClusterRecord,
    template: str | None,
    name: str,
    config_path: str | None,
    size: int | None,
) -> tuple[Cluster, str]:
    """Claim a stopped or failed cluster for starting again; its previous status."""
    if template and existing.template and template != existing.template:
        raise ClusterExists(
            name,
            msg=f"cluster {name!r} exists with template {existing.template!r}; "
            "choose another name or terminate it first.",
        )
    if existing.status not in (ClusterStatus.STOPPED, ClusterStatus.ERROR):
        way_out = "Choose another name, or stop or terminate it first."
        if existing.is_busy:
            try:
                limit = _limit(_existing(name)[1])
            except TethysComputeError:
                limit = 300.0
            way_out = _way_out(existing, limit)
        raise ClusterExists(
            name,
            msg=f"cluster {name!r} exists and is {existing.get_status_display().lower()}; "
            f"this operation is not possible now. {way_out}",
        )
    manager = _manager_for(existing.config_path or config_path)
    cluster = manager._from_record(existing)
    if size is not None:
        cluster.update({"cluster_size": size})
        ClusterRecord.objects.filter(pk=existing.pk).update(size=size)
    cluster.validate()
    previous = _claim(
        existing,
        ClusterStatus.STARTING,
        "queued: starting",
        (ClusterStatus.STOPPED, ClusterStatus.ERROR),
        _limit(cluster),
    )
    return cluster, previous


@sensitive_variables()  # the AWS keys (credentials): hidden from error reports
def _create(
    template: str | None,
    name: str,
    config_path: str | None,
    size: int | None,
    overrides: dict[str, Any] | None,
    credentials: dict[str, str] | None,
) -> tuple[Cluster, str]:
    """A new cluster made from its template, with its row (its previous status: Stopped)."""
    manager = _manager_for(config_path)
    settings = dict(overrides or {})
    if size is not None:
        settings["cluster_size"] = size
    template = template or manager.get_default_cluster_template()
    cluster = manager.get_cluster_template(template, name, **settings)
    for field in credentials or {}:
        if field not in ClusterRecord.SECRET_FIELDS:
            raise InvalidArgumentError(f"unknown credential {field!r}")
    cluster.validate()
    record = cluster._ensure_record()
    if credentials:
        for field, value in credentials.items():
            setattr(record, field, value or None)
        record.save(update_fields=[f for f in credentials])
        cluster = manager._from_record(ClusterRecord.objects.get(pk=record.pk))
    previous = ClusterStatus.STOPPED
    return cluster, previous


@sensitive_variables()  # AWS keys arrive as an argument: hidden from error reports
def start_cluster(
    template: str | None,
    name: str,
    *,
    config_path: str | None = None,
    size: int | None = None,
    overrides: dict[str, Any] | None = None,
    credentials: dict[str, str] | None = None,
    background: bool = True,
) -> ClusterRecord:
    """Start a new cluster from ``template`` (or start a stopped or failed one again).

    Parameters
    ----------
    template : str or None
        The template; None: the row's template for an existing cluster, else
        the config file's DEFAULT_TEMPLATE.
    name : str
        The cluster's name.
    config_path : str, optional
        The config file (default: ``$TETHYSCLUSTER_CONFIG``, then
        ``~/.tethyscluster/config``).
    size : int, optional
        Nodes, the master included (default: the template's CLUSTER_SIZE).
    overrides : dict, optional
        Other template settings (``node_instance_type``...).
    credentials : dict, optional
        ``aws_access_key_id``/``aws_secret_access_key`` for this cluster,
        stored encrypted on the row.
    background : bool
        Return at once and work in a thread (default), or work in the caller.

    Returns
    -------
    tethys_compute.models.Cluster
        The row, status ``STR``.

    Raises
    ------
    ConfigError, ClusterTemplateDoesNotExist, ClusterValidationError
        Bad config, template or settings; nothing was created.
    ClusterExists
        A cluster of this name exists and is not stopped or failed.
    """
    name = strip_tag(name)
    existing = ClusterRecord.objects.filter(name=name).first()
    if existing is not None:
        cluster, previous = _restart(existing, template, name, config_path, size)
    else:
        cluster, previous = _create(template, name, config_path, size, overrides, credentials)
    pk = _record(name).pk
    work = _settled(pk, name, "start", previous, lambda: cluster.start(validate=False))
    _spawn(name, work, background)
    return _record(name)


def _existing(name: str) -> tuple[ClusterRecord, Cluster]:
    record = _record(name)
    cluster = _manager_for(record.config_path)._from_record(record)
    return record, cluster


def resize_cluster(name: str, size: int, *, background: bool = True) -> ClusterRecord:
    """Grow or shrink a running cluster to ``size`` nodes (status ``UPD``, then ``RUN``).

    Raises
    ------
    InvalidArgumentError
        ``size`` is not a whole number >= 1.
    InvalidOperation
        The cluster is not running (or failed).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidArgumentError(
            f"size must be a whole number >= 1 (master included), not {size!r}"
        )
    record, cluster = _existing(name)
    if record.status == ClusterStatus.RUNNING and record.size == size:
        logger.info("%s", resize_noop_message(record))
        return record  # nothing to do: never marked busy
    previous = _claim(
        record,
        ClusterStatus.UPDATING,
        f"queued: resizing from {record.size} to {size}",
        (ClusterStatus.RUNNING, ClusterStatus.ERROR),
        _limit(cluster),
    )
    work = _settled(record.pk, record.name, "resize", previous, lambda: cluster.resize(size))
    _spawn(record.name, work, background)
    return _record(record.name)


def resize_noop_message(record: ClusterRecord) -> str:
    """What a resize to the current size says (it does nothing)."""
    return f"cluster {record.name!r} already has {record.size} nodes; nothing to do."


def stop_cluster(name: str, *, force: bool = False, background: bool = True) -> ClusterRecord:
    """Stop a running cluster (``UPD``, then ``STP``); :func:`start_cluster` resumes it.

    Parameters
    ----------
    force : bool
        Stop the jobs still active on the cluster's schedulers first (they
        become Aborted); without it their presence refuses the stop at once.

    Raises
    ------
    ClusterHasActiveJobs
        Without ``force``, while jobs are active on the cluster's schedulers.
    """
    record, cluster = _existing(name)
    if not force:
        check_active_jobs(record.name, cluster._scheduler_names(), "stop", force=False)
    previous = _claim(
        record,
        ClusterStatus.UPDATING,
        "queued: stopping",
        (ClusterStatus.RUNNING, ClusterStatus.ERROR),
        _limit(cluster),
    )
    work = _settled(
        record.pk, record.name, "stop", previous, lambda: cluster.stop_cluster(force=force)
    )
    _spawn(record.name, work, background)
    return _record(record.name)


def terminate_cluster(name: str, *, force: bool = False, background: bool = True) -> ClusterRecord:
    """Terminate a cluster (``DEL``); its row and scheduler record are deleted at the end.

    Parameters
    ----------
    force : bool
        Also while another operation is recorded as busy (after a crash), stop
        the jobs still active on the cluster's schedulers first (they become
        Aborted, with the reason), and go on when plugins fail.

    Raises
    ------
    ClusterHasActiveJobs
        Without ``force``, while jobs are active on the cluster's schedulers
        (nothing is touched).
    """
    try:
        record, cluster = _existing(name)
    except ClusterDoesNotExist:
        raise
    except TethysComputeError as exc:
        # The config file is gone or broken: without it nothing can reach the provider.
        if not force:
            raise
        return _forget(_record(name), exc)
    if not force:
        check_active_jobs(record.name, cluster._scheduler_names(), "terminate", force=False)
    allowed: tuple[str, ...] = (
        ClusterStatus.RUNNING,
        ClusterStatus.STOPPED,
        ClusterStatus.ERROR,
    )
    if force and not is_working(record.name):
        allowed = tuple(ClusterStatus.values)
    previous = _claim(
        record, ClusterStatus.DELETING, "queued: terminating", allowed, _limit(cluster)
    )
    name = record.name
    with _threads_lock:
        _leftovers.pop(name, None)

    def work() -> None:
        try:
            cluster.terminate_cluster(force=force)
        finally:
            if cluster.leftovers:
                with _threads_lock:
                    _leftovers[name] = cluster.leftovers

    _spawn(name, _settled(record.pk, name, "terminate", previous, work), background)
    return record  # as claimed (DEL): the row may already be gone


def _forget(record: ClusterRecord, exc: BaseException) -> ClusterRecord:
    """Remove the row of a cluster whose config cannot be read (forced termination)."""
    text = (
        f"its config cannot be read ({exc}), so the {record.get_provider_display()} provider "
        f"was not asked to remove anything; whatever cluster {record.name!r} holds there "
        f"(provider state: {', '.join(sorted(record.provider_state)) or 'none recorded'}) "
        "may be left: check and remove it by hand."
    )
    with _threads_lock:
        _leftovers[record.name] = text
    logger.warning("cluster %s: %s", record.name, text)
    names = list(record.provider_state.get("schedulers") or [])
    check_active_jobs(record.name, names, "terminate", force=True)
    for scheduler in Scheduler.objects.filter(name__in=names).select_subclasses():
        scheduler.delete()
    ClusterRecord.objects.filter(pk=record.pk).delete()
    return record


def leftovers(name: str) -> str:
    """After a forced termination: what the provider may still hold ("" if nothing).

    Kept in this process (the row is gone) until the next termination of ``name``.
    """
    with _threads_lock:
        return _leftovers.get(strip_tag(name), "")


def refresh_cluster(name: str) -> ClusterRecord | None:
    """Bring the row's status in line with the nodes; None when the row is gone.

    A busy status whose operation no longer runs in this process and made no
    progress for ``START_TIMEOUT`` seconds becomes ``ERR`` (interrupted).
    """
    try:
        record, cluster = _existing(name)
    except LookupError:
        return None
    if record.is_busy:
        if is_working(record.name):
            return record
        limit = float(cluster.template.get("start_timeout") or 300)
        changed = record.status_changed or record.modified
        if changed is not None and timezone.now() - changed > timedelta(seconds=limit):
            record.set_status(
                ClusterStatus.ERROR,
                f"the {record.get_status_display().lower()} operation was interrupted (no "
                f"progress for {limit:g} s); start or terminate the cluster again.",
            )
        return record
    cluster.refresh_status()
    record.refresh_from_db()
    return record


def wait(name: str, timeout: float = 300.0) -> ClusterRecord | None:
    """Wait (at most ``timeout`` seconds) for the current operation on ``name`` to end.

    Returns
    -------
    tethys_compute.models.Cluster or None
        The row afterwards, or None once it was deleted (terminated).

    Raises
    ------
    TimeoutError
        The operation still runs after ``timeout`` seconds.
    """
    name = strip_tag(name)
    deadline = time.monotonic() + timeout
    with _threads_lock:
        thread = _threads.get(name)
    if thread is not None and thread.ident is not None:
        thread.join(max(deadline - time.monotonic(), 0.0))
        if thread.is_alive():
            raise TimeoutError(f"cluster {name!r}: the operation still runs after {timeout:g} s")
    while True:
        record = ClusterRecord.objects.filter(name=name).first()
        if record is None or not record.is_busy:
            return record
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"cluster {name!r} is still {record.get_status_display().lower()} after "
                f"{timeout:g} s: {record.status_message}"
            )
        time.sleep(0.2)
