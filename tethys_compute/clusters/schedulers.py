"""Schedulers follow clusters: register a cluster's scheduler record, and remove it.

When a cluster reaches running, :func:`register_scheduler` creates (or
updates) the scheduler record named after the cluster:

* a ``condor`` plugin -> a :class:`~tethys_compute.models.CondorScheduler` on
  the master (``CLUSTER_USER``, the template's key file, the SSH port);
* otherwise a Dask scheduler -> a :class:`~tethys_compute.models.DaskScheduler`
  at ``tcp://<master>:<port>`` with its dashboard (local and ssh clusters, and
  cloud clusters with the ``dask`` plugin).

When both run, the Dask record is named ``<cluster>-dask``.  Terminating or
stopping the cluster deletes the records it registered (only those: a record
an admin made by hand with the same name is never touched, see
``provider_state["schedulers"]``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from tethys_compute.exceptions import SchedulerConflictError, SchedulerValidationError
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler

if TYPE_CHECKING:
    from tethys_compute.clusters.shapes import ClusterView as Cluster

__all__ = ["register_scheduler", "scheduler_specs", "unregister_scheduler"]

logger = logging.getLogger(__name__)

_KINDS: dict[str, type[Scheduler]] = {"dask": DaskScheduler, "condor": CondorScheduler}


def scheduler_specs(cluster: Cluster) -> list[dict[str, Any]]:
    """The schedulers the cluster runs, first the one named after the cluster."""
    specs: list[dict[str, Any]] = []
    for plugin in cluster.plugins:
        plugin.cluster = cluster
        spec = plugin.scheduler_record()
        if spec:
            specs.append(dict(spec))
    if not any(spec["kind"] == "dask" for spec in specs):
        master = cluster.master_node
        dask = cluster.provider.dask_scheduler(master.info)
        if dask:
            specs.append({"kind": "dask", **dask})
    specs.sort(key=lambda spec: spec["kind"] != "condor")
    names: set[str] = set()
    for spec in specs:
        name = cluster.cluster_tag if not names else f"{cluster.cluster_tag}-{spec['kind']}"
        spec["name"] = name
        names.add(name)
    return specs


def _upsert(spec: dict[str, Any], description: str) -> Scheduler:
    values = {k: v for k, v in spec.items() if k not in ("kind", "name")}
    model = _KINDS[spec["kind"]]
    name = spec["name"]
    with transaction.atomic():
        existing = Scheduler.objects.filter(name=name).select_subclasses()
        record = existing.first()
        if record is None:
            record = model(name=name, description=description)
        elif type(record) is not model:
            raise SchedulerConflictError(name, [], kind=record.KIND)
        for key, value in values.items():
            setattr(record, key, value)
        try:
            record.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            raise SchedulerValidationError(name, exc.message_dict) from None
        record.save()
    return record


def register_scheduler(cluster: Cluster) -> Scheduler | None:
    """Create or update the scheduler records of a running cluster.

    Returns
    -------
    Scheduler or None
        The record named after the cluster (None when the cluster runs no
        scheduler, e.g. an AWS cluster without plugins).
    """
    specs = scheduler_specs(cluster)
    registered = []
    first: Scheduler | None = None
    for spec in specs:
        record = _upsert(spec, f"Scheduler of cluster {cluster.cluster_tag!r}.")
        registered.append(record.name)
        first = first or record
        logger.info("cluster %s: scheduler %r at %s", cluster.cluster_tag, record.name, record.host)
    cluster.state["schedulers"] = registered
    cluster.save_state()
    return first


def unregister_scheduler(cluster: Cluster) -> int:
    """Delete the scheduler records this cluster registered; return how many."""
    names = list(cluster.state.get("schedulers") or [])
    deleted = 0
    for name in names:
        for record in Scheduler.objects.filter(name=name).select_subclasses():
            record.delete()
            deleted += 1
    cluster.state["schedulers"] = []
    cluster.save_state()
    return deleted
