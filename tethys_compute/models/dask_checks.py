"""System check on the stored Dask schedulers: plain ``tcp://`` off this machine.

A ``distributed.Client`` trusts its scheduler completely (task results travel
pickled), so a plain ``tcp://`` connection across a network lets anyone on the
path run code in the portal.  The check reads the records, so it is a
*database* check: ``manage.py check --database default`` (and ``migrate``) run
it, as Django runs every database check.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.core.checks import Tags, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError

from tethys_compute.models.dask import DaskScheduler
from tethys_compute.validators import split_host_port

#: The check's id (silence it with ``SILENCED_SYSTEM_CHECKS`` for a trusted private network).
PLAIN_TCP_CHECK_ID = "tethys_compute.W014"

_HINT = (
    "Run the scheduler with TLS and set the record's host to tls://host:port, with "
    "TETHYS_COMPUTE['DASK_TLS_CA_FILE'], ['DASK_TLS_CERT_FILE'] and ['DASK_TLS_KEY_FILE'] "
    "(the CA that signed the scheduler's certificate, and the portal's certificate and key); "
    f"or, on a network only trusted hosts can reach, add {PLAIN_TCP_CHECK_ID!r} to "
    "SILENCED_SYSTEM_CHECKS."
)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (no name is resolved).

    Examples
    --------
    >>> is_loopback_host("127.0.0.2"), is_loopback_host("::1"), is_loopback_host("10.0.0.5")
    (True, True, False)
    """
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_remote_tcp(address: str) -> bool:
    """True when ``address`` is plain TCP (``tcp://`` or no scheme) to a non-loopback host.

    Examples
    --------
    >>> plain_remote_tcp("tcp://10.0.0.5:8786"), plain_remote_tcp("10.0.0.5:8786")
    (True, True)
    >>> plain_remote_tcp("tls://10.0.0.5:8786"), plain_remote_tcp("127.0.0.1:8786")
    (False, False)
    """
    text = str(address).strip()
    scheme, _, location = text.rpartition("://")
    if (scheme or "tcp").lower() != "tcp":
        return False
    try:
        host, _port = split_host_port(location)
    except ValueError:
        return False  # not an address at all: the record's validation says so
    return bool(host) and not is_loopback_host(host)


@register(Tags.database, Tags.security)
def check_plain_tcp_dask_schedulers(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[Any]:
    """Warn for each Dask scheduler reached over plain TCP off this machine."""
    if not databases:
        return []  # Django's rule for database checks: only when asked for
    if app_configs is not None and not any(c.label == "tethys_compute" for c in app_configs):
        return []
    warnings: list[Any] = []
    for alias in databases:
        try:
            rows = list(DaskScheduler.objects.using(alias).values_list("name", "host"))
        except DatabaseError:
            continue  # not migrated yet: nothing is stored
        warnings.extend(
            CheckWarning(
                f"Dask scheduler {name!r} is reached over plain TCP at {host}, which is not "
                "this machine: whoever can reach that network path can read and change what "
                "the portal and the scheduler exchange, and a Dask client runs what its "
                "scheduler sends (results travel pickled).",
                hint=_HINT,
                obj=name,
                id=PLAIN_TCP_CHECK_ID,
            )
            for name, host in rows
            if plain_remote_tcp(host)
        )
    return warnings
