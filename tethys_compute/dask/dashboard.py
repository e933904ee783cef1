"""Dashboard links of Dask schedulers."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only a type here: the admin imports this module without loading distributed
    from distributed import Client

logger = logging.getLogger(__name__)


def dashboard_url(dashboard: str) -> str:
    """The URL of a ``dashboard`` field: ``host:port`` becomes ``http://host:port/status``.

    Examples
    --------
    >>> dashboard_url("localhost:8787")
    'http://localhost:8787/status'
    >>> dashboard_url("https://dask.example.com/status")
    'https://dask.example.com/status'
    """
    dashboard = dashboard.strip()
    if "://" in dashboard:
        return dashboard
    return f"http://{dashboard}/status"


def scheduler_dashboard_link(client: Client) -> str | None:
    """The dashboard link a connected client reports, or None when it has none."""
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - no dashboard service, or the scheduler went away
        return None
    return str(link) if link else None
