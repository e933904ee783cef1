""" "Test connection" of a Dask scheduler: one probe comm, never a client."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tethys_compute.conf import compute_settings
from tethys_compute.dask.connect import reach
from tethys_compute.dask.handshake import _ask, _checked_identity, _connection_error, _describe
from tethys_compute.dask.keys import ClientKey, Route, make_key
from tethys_compute.dask.loop import _shared_loop
from tethys_compute.dask.versions import _report_versions
from tethys_compute.exceptions import (
    ConfigurationError,
    InvalidArgumentError,
    SchedulerConnectionError,
)
from tethys_compute.health import HealthResult

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------
# Health and dashboard
# ----------------------------------------------------------------------
def _count(n: int, noun: str) -> str:
    """``1 worker``, ``2 workers``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n} B"  # pragma: no cover


#: What "Test connection" asks, on one comm: who, and which versions (scheduler, workers).
_HEALTH_REQUESTS: list[dict[str, Any]] = [
    {"op": "identity"},
    {"op": "versions"},
    {"op": "broadcast", "msg": {"op": "versions"}, "on_error": "ignore"},
]


async def _health_async(
    key: ClientKey, label: str | None, budget: float
) -> tuple[float, dict[str, Any], Any, Any]:
    timings: list[float] = []
    address = await reach(key, label, budget)
    try:
        identity, scheduler_versions, worker_versions = await asyncio.wait_for(
            _ask(address, _HEALTH_REQUESTS, key.security(), label, timings), budget
        )
    except SchedulerConnectionError:
        raise
    except (TimeoutError, OSError, EOFError, ValueError) as exc:
        raise _connection_error(label, key.address, budget, exc) from exc
    checked = _checked_identity(identity, label, key.address)
    if not isinstance(scheduler_versions, dict) or not isinstance(worker_versions, dict):
        raise SchedulerConnectionError(
            f"{_describe(label, key.address)} answered, but its versions are not mappings."
        )
    return timings[0] * 1000.0, checked, scheduler_versions, worker_versions


def check_scheduler(
    address: str,
    *,
    label: str | None = None,
    timeout: float | None = None,
    heartbeat_interval: int | None = None,
    health_timeout: float | None = None,
    record_id: Any = None,
    via: Route | None = None,
    tls: tuple[str, str, str | None] | None = None,
) -> HealthResult:
    """Test a Dask scheduler: reachable, latency, workers, versions.

    Never connects a ``distributed.Client`` and never unpickles anything: one
    short-lived comm asks the scheduler's identity and the versions of the
    scheduler and its workers, decoded as plain data (see
    :mod:`tethys_compute.dask_probe`).  So a test is safe against an address
    that is not a real (or not a trusted) scheduler, and costs the scheduler no
    client.  Never raises for an unreachable scheduler: the result says what
    failed.

    Parameters
    ----------
    address : str
        The scheduler address.
    label : str, optional
        The record's name, shown in the result's target.
    timeout : float, optional
        The record's connect timeout in seconds.
    heartbeat_interval : int, optional
        The record's heartbeat interval in milliseconds (checked, not used).
    health_timeout : float, optional
        Upper bound in seconds of the whole test; default
        ``TETHYS_COMPUTE['HEALTH_CHECK_TIMEOUT']``.
    record_id : optional
        Accepted for compatibility; the test opens no cached client.
    via : Route, optional
        Reach the scheduler through this route (an SSH tunnel).
    tls : tuple of str, optional
        The scheduler's own ``(ca, cert, key)`` files for ``tls://``.

    Returns
    -------
    HealthResult
        ``checks``: ``address``, ``connect``, ``workers``, ``versions``;
        ``latency_ms`` (one identity round trip); ``details``: ``n_workers``,
        ``total_threads``, ``total_memory``, ``scheduler_address``;
        ``versions``: ``client``, ``scheduler`` and ``workers`` (per address)
        for python, dask, distributed and msgpack; ``warnings``: one per
        mismatched package.

    Examples
    --------
    >>> result = check_scheduler("127.0.0.1:8786", label="Default")  # doctest: +SKIP
    >>> result.ok, result.details["n_workers"]  # doctest: +SKIP
    (True, 2)
    """
    del record_id  # no client, so nothing to tie to the record
    target = f"Dask scheduler {label!r}" if label else f"Dask scheduler at {address}"
    result = HealthResult(target=target)
    bound = float(health_timeout or compute_settings.HEALTH_CHECK_TIMEOUT)
    try:
        key = make_key(address, timeout, heartbeat_interval, via, tls)
    except (InvalidArgumentError, ConfigurationError) as exc:
        result.failed("address", str(exc))
        return result.finish()
    result.passed("address", key.address)
    budget = min(key.timeout, bound)
    try:
        latency_ms, identity, scheduler_versions, worker_versions = _shared_loop.run(
            _health_async(key, label, budget), budget + 1.0
        )
    except SchedulerConnectionError as exc:
        result.failed("connect", str(exc))
        return result.finish()
    except TimeoutError as exc:  # our safety margin expired: should not happen
        result.failed("connect", str(_connection_error(label, key.address, budget, exc)))
        return result.finish()
    result.passed("connect", f"connected to {key.address} (plain data only, nothing unpickled)")
    result.latency_ms = round(latency_ms, 3)
    _report_workers(result, identity)
    _report_versions(result, scheduler_versions, worker_versions)
    return result.finish()


def _report_workers(result: HealthResult, identity: dict[str, Any]) -> None:
    workers = identity.get("workers") or {}
    total_threads = sum(int(w.get("nthreads") or 0) for w in workers.values())
    total_memory = sum(int(w.get("memory_limit") or 0) for w in workers.values())
    dashboard = (identity.get("services") or {}).get("dashboard")
    result.details.update(
        scheduler_address=identity.get("address"),
        n_workers=len(workers),
        total_threads=total_threads,
        total_memory=total_memory,
        dashboard_port=dashboard if isinstance(dashboard, int) else None,
    )
    if workers:
        result.passed(
            "workers",
            f"{_count(len(workers), 'worker')}, {_count(total_threads, 'thread')}, "
            f"{_format_bytes(total_memory)}",
        )
    else:
        result.passed("workers", "no workers connected (tasks will wait for one)")
        result.warnings.append("The scheduler has no workers; submitted work will not run.")
