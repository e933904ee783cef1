"""Connected ``distributed.Client`` objects for Dask schedulers (old import path).

The code lives in the :mod:`tethys_compute.dask` package, split by concern;
this module re-exports its public names so that existing imports keep working.
"""

from __future__ import annotations

from tethys_compute.dask.cache import (
    DRAIN_TIMEOUT,
    cached_client,
    cached_clients,
    close_clients,
    get_client,
    has_record_clients,
    is_alive,
    new_client,
    retire_record_clients,
)
from tethys_compute.dask.connect import open_async_client, scheduler_call
from tethys_compute.dask.dashboard import dashboard_url, scheduler_dashboard_link
from tethys_compute.dask.handshake import scheduler_identity
from tethys_compute.dask.health import check_scheduler
from tethys_compute.dask.keys import ClientKey, make_key, normalize_address, tls_security
from tethys_compute.dask.loop import LOOP_THREAD_NAME
from tethys_compute.dask.versions import VERSION_PACKAGES, version_warnings

__all__ = [
    "DRAIN_TIMEOUT",
    "LOOP_THREAD_NAME",
    "VERSION_PACKAGES",
    "ClientKey",
    "cached_client",
    "cached_clients",
    "check_scheduler",
    "close_clients",
    "dashboard_url",
    "get_client",
    "has_record_clients",
    "is_alive",
    "make_key",
    "new_client",
    "normalize_address",
    "open_async_client",
    "retire_record_clients",
    "scheduler_call",
    "scheduler_dashboard_link",
    "scheduler_identity",
    "tls_security",
    "version_warnings",
]
