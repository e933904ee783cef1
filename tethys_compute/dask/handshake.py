"""Talking to a scheduler without a client: identity on a fresh comm, errors that say what to check.

The replies are decoded as plain data by :mod:`tethys_compute.dask.probe`;
nothing is unpickled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from distributed.security import Security

from tethys_compute.counters import remote_calls
from tethys_compute.dask import probe as dask_probe
from tethys_compute.dask.keys import normalize_address
from tethys_compute.dask.loop import _shared_loop
from tethys_compute.exceptions import (
    SchedulerConnectionError,
    SchedulerTimeoutError,
)

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------
# Talking to a scheduler without a client
# ----------------------------------------------------------------------
async def _ask(
    address: str,
    requests: list[dict[str, Any]],
    security: Security | None,
    label: str | None,
    timings: list[float] | None = None,
) -> list[Any]:
    """Send requests on one fresh comm; the replies are plain data, never unpickled.

    See :mod:`tethys_compute.dask_probe`.  No deadline of its own: callers wrap
    it in ``asyncio.wait_for``.
    """
    remote_calls.add("dask", address, "connections")
    remote_calls.add("dask", address, "commands", len(requests))
    try:
        return await dask_probe.ask(address, requests, security, timings)
    except dask_probe.ProbeProtocolError as exc:
        raise SchedulerConnectionError(
            f"{_describe(label, address)} answered, but not like a Dask scheduler: {exc}. "
            "Check the port (it may be a worker, a dashboard or another service) and that "
            "the scheduler is one you trust."
        ) from None


def _describe(label: str | None, address: str) -> str:
    return f"Dask scheduler {label!r} at {address}" if label else f"Dask scheduler at {address}"


def _connection_error(
    label: str | None, address: str, timeout: float, exc: BaseException
) -> SchedulerConnectionError:
    """Turn a low-level failure into our error, saying what to check."""
    where = _describe(label, address)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return SchedulerTimeoutError(
            f"{where} did not answer within {timeout:g} s. Check that a Dask scheduler (not "
            "another service) listens there and is not overloaded, or raise the record's "
            "timeout (seconds)."
        )
    return SchedulerConnectionError(
        f"{where} could not be reached: {_reason(exc)}. Check that the scheduler is running and "
        "that the record's host (host:port) is right."
    )


def _reason(exc: BaseException) -> str:
    """The operating system's words for a failure (``Connection refused``), if any.

    ``distributed`` wraps them (``CommClosedError("in <TCPConnector ...>: ...")``);
    the innermost ``OSError`` with a ``strerror`` says it best.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    best: OSError | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            best = current
        current = current.__cause__ or current.__context__ or getattr(current, "real_error", None)
    if best is not None:
        return str(best.strerror)
    return str(exc) or type(exc).__name__


async def _identity_async(
    address: str, timeout: float, security: Security | None, label: str | None
) -> dict[str, Any]:
    try:
        [reply] = await asyncio.wait_for(
            _ask(address, [{"op": "identity"}], security, label), timeout
        )
    except SchedulerConnectionError:
        raise
    except (TimeoutError, OSError, EOFError, ValueError) as exc:
        raise _connection_error(label, address, timeout, exc) from exc
    return _checked_identity(reply, label, address)


def _checked_identity(reply: Any, label: str | None, address: str) -> dict[str, Any]:
    """The identity reply, if it has the shape and types of a scheduler's; else raise."""
    problem = None
    if not isinstance(reply, dict) or not isinstance(reply.get("workers"), dict):
        problem = f"got {type(reply).__name__} without a 'workers' mapping"
    elif not all(isinstance(w, dict) for w in reply["workers"].values()):
        problem = "a worker's entry is not a mapping"
    elif not isinstance(reply.get("address", ""), str):
        problem = "its address is not text"
    elif not isinstance(reply.get("services") or {}, dict):
        problem = "its services are not a mapping"
    else:
        for worker in reply["workers"].values():
            for name in ("nthreads", "memory_limit"):
                value = worker.get(name) or 0
                if not isinstance(value, int) or isinstance(value, bool):
                    problem = f"a worker's {name} is not a number"
    if problem is not None:
        raise SchedulerConnectionError(
            f"{_describe(label, address)} answered, but not like a Dask scheduler ({problem}). "
            "Check the port: it may be a worker or a dashboard."
        )
    return reply


def scheduler_identity(
    address: str,
    timeout: float,
    *,
    security: Security | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    """Ask a scheduler who it is, on a fresh connection, within ``timeout`` seconds.

    One TCP connection, the comm handshake and the scheduler's ``identity``
    request, all under one deadline; the connection is closed afterwards.

    Parameters
    ----------
    address : str
        The scheduler address (``host:port``, ``tcp://...``, ``tls://...``).
    timeout : float
        Seconds for the whole exchange.
    security : distributed.security.Security, optional
        TLS settings for ``tls://`` addresses.
    label : str, optional
        Name used in error messages (the record's name).

    Returns
    -------
    dict
        The scheduler's identity: ``address``, ``services``, ``n_workers``,
        ``total_threads``, ``total_memory`` and ``workers`` (per address).

    Raises
    ------
    SchedulerTimeoutError
        When the scheduler did not answer in time (also a ``TimeoutError``).
    SchedulerConnectionError
        When it could not be reached (also a ``ConnectionError``).

    Examples
    --------
    >>> info = scheduler_identity("tcp://127.0.0.1:8786", timeout=5)  # doctest: +SKIP
    >>> info["n_workers"]  # doctest: +SKIP
    2
    """
    address = normalize_address(address)
    coro = _identity_async(address, timeout, security, label)
    try:
        return _shared_loop.run(coro, timeout + 1.0)
    except TimeoutError as exc:
        if isinstance(exc, SchedulerConnectionError):
            raise
        raise _connection_error(label, address, timeout, exc) from None
