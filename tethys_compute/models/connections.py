"""Records meet transports: targets built from scheduler records, caches closed when they change.

The transports (:mod:`tethys_compute.ssh`, :mod:`tethys_compute.dask`) take
plain values and never import a model.  This module is the one place that
turns a scheduler record into those values (an :class:`~tethys_compute.ssh.SSHTarget`,
a Dask :class:`~tethys_compute.dask.keys.ClientKey`) and that tells the
transports' caches when a record was saved or deleted
(:func:`register_closers`, called by :mod:`tethys_compute.signals`).
"""

from __future__ import annotations

import functools
from typing import Any

from django.views.decorators.debug import sensitive_variables

from tethys_compute.dask.cache import (
    has_record_clients,
    retire_record_clients,
    retire_routed_clients,
)
from tethys_compute.dask.keys import ClientKey, make_key
from tethys_compute.exceptions import ConfigurationError, InvalidArgumentError
from tethys_compute.models.dask import DaskScheduler
from tethys_compute.ssh import SSHTarget, close_owner
from tethys_compute.ssh.tunnel import close_owner_tunnels

#: Prefix of :attr:`SSHTarget.owner` for a Condor scheduler record.
CONDOR_OWNER = "condor-scheduler"


def ssh_owner(pk: Any) -> str:
    """The :attr:`SSHTarget.owner` of the scheduler record with primary key ``pk``."""
    return f"{CONDOR_OWNER}:{pk}" if pk is not None else ""


def _pin_host_key(model: Any, pk: Any, host_key: str) -> None:
    """Store a host key trusted on first use on the scheduler record (no signals)."""
    model.objects.filter(pk=pk).update(host_key=host_key)


@sensitive_variables()
def ssh_target_for(scheduler: Any) -> SSHTarget:
    """The :class:`~tethys_compute.ssh.SSHTarget` of a Condor scheduler record.

    The record's secrets are decrypted here, once.  A key trusted on first use
    is pinned on the record.
    """
    pin = None
    if scheduler.pk is not None:
        pin = functools.partial(_pin_host_key, type(scheduler), scheduler.pk)
    return SSHTarget(
        host=scheduler.host,
        port=int(scheduler.port or 22),
        username=scheduler.username or "",
        password=scheduler.password or None,
        private_key_path=scheduler.private_key_path or None,
        private_key=scheduler.private_key or None,
        private_key_pass=scheduler.private_key_pass or None,
        host_key=scheduler.host_key or None,
        label=scheduler.name,
        owner=ssh_owner(scheduler.pk),
        pin_host_key=pin,
    )


def dask_key_for(scheduler: Any, **overrides: Any) -> ClientKey:
    """The Dask client cache key of a scheduler record (``overrides`` as in ``get_client``)."""
    timeout = overrides.pop("timeout", None)
    heartbeat = overrides.pop("heartbeat_interval", None)
    return make_key(
        scheduler.host,
        timeout=scheduler.timeout if timeout is None else timeout,
        heartbeat_interval=scheduler.heartbeat_interval if heartbeat is None else heartbeat,
        via=scheduler.tunnel_route(),
        tls=scheduler.tls_files(),
        **overrides,
    )


def close_ssh_connections(scheduler: Any) -> None:
    """Close the cached SSH connections of a saved or deleted scheduler record.

    The Dask clients tunnelled through them are retired too, with their tunnels.
    """
    owner = ssh_owner(getattr(scheduler, "pk", None))
    if not owner:
        return
    retire_routed_clients(lambda route: getattr(route, "owner", None) == owner)
    close_owner_tunnels(owner)
    close_owner(owner)


def close_dask_clients(scheduler: Any) -> None:
    """Retire the Dask clients of a saved or deleted record whose settings changed.

    See the closing rule in :mod:`tethys_compute.dask`.
    """
    if not isinstance(scheduler, DaskScheduler) or scheduler.pk is None:
        return
    if not has_record_clients(scheduler.pk):
        return  # no client of this record: no query, nothing to do
    # The same closer runs after saves and deletes: a deleted row is gone.
    deleted = not type(scheduler).objects.filter(pk=scheduler.pk).exists()
    try:
        current = None if deleted else dask_key_for(scheduler)
    except (InvalidArgumentError, ConfigurationError):
        current = None
    retire_record_clients(scheduler.pk, current)
