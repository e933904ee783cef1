"""Creating Dask clients under our own deadline (cached ones: :mod:`tethys_compute.dask.cache`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from distributed import Client

from tethys_compute.counters import remote_calls
from tethys_compute.dask.handshake import _connection_error, _describe, _identity_async
from tethys_compute.dask.keys import ClientKey, Route, make_key
from tethys_compute.dask.loop import _shared_loop
from tethys_compute.exceptions import SchedulerConnectionError, SchedulerTimeoutError

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------
# Creating clients
# ----------------------------------------------------------------------
async def reach(key: ClientKey, label: str | None, budget: float) -> str:
    """The address to connect to: the scheduler's, or the local end of its route."""
    if key.via is None:
        return key.address
    host, port = key.remote_host_port()
    opening = asyncio.get_running_loop().run_in_executor(None, key.via.open, host, port)
    try:
        local = await asyncio.wait_for(opening, budget)
    except (SchedulerConnectionError, TimeoutError) as exc:  # an SSHError is a ConnectionError
        kind = SchedulerTimeoutError if isinstance(exc, TimeoutError) else SchedulerConnectionError
        raise kind(
            f"{_describe(label, key.address)} is reached through {key.via.display}, and that "
            f"failed: {exc or 'no answer in time'}"
        ) from None
    except ConnectionError as exc:
        raise SchedulerConnectionError(
            f"{_describe(label, key.address)} is reached through {key.via.display}, and that "
            f"failed: {exc}"
        ) from None
    scheme = key.address.split("://", 1)[0]
    return f"{scheme}://{local}"


async def _open_client(
    key: ClientKey, options: Mapping[str, Any], label: str | None, limit: float | None = None
) -> Client:
    """Connect a client on the running loop (runs on the loop).

    Bounded by ``key.timeout``, or by ``limit`` when that is shorter (a health
    check's bound; the client keeps the key's timeout for its own use).
    """
    budget = key.timeout if limit is None else min(key.timeout, limit)
    started = time.monotonic()
    security = key.security()
    address = await reach(key, label, budget)
    await _identity_async(address, budget, security, label)
    remaining = budget - (time.monotonic() - started)
    if remaining <= 0:
        raise _connection_error(label, key.address, budget, TimeoutError())
    remote_calls.add("dask", key.address, "connections")
    client = Client(
        address,
        asynchronous=True,
        timeout=key.timeout,
        heartbeat_interval=key.heartbeat_interval,
        security=security,
        set_as_default=False,
        **options,
    )
    try:
        await asyncio.wait_for(_await_client(client), remaining)
    except BaseException as exc:
        await _close_quietly(client)
        if isinstance(exc, (OSError, asyncio.TimeoutError, EOFError, ValueError)):
            raise _connection_error(label, key.address, budget, exc) from exc
        raise
    return client


async def _await_client(client: Client) -> Client:
    return await client  # type: ignore[no-any-return]


async def _close_quietly(client: Client, timeout: float = 5.0) -> None:
    try:
        await asyncio.wait_for(client.close(timeout=timeout), timeout + 1.0)
    except Exception:  # noqa: BLE001 - closing a broken client may fail in many ways
        logger.debug("Closing %r failed", client, exc_info=True)


def _run_open(
    key: ClientKey, options: Mapping[str, Any], label: str | None, limit: float | None = None
) -> Client:
    budget = key.timeout if limit is None else min(key.timeout, limit)
    try:
        return _shared_loop.run(_open_client(key, options, label, limit), budget + 6.0)
    except SchedulerConnectionError:
        raise
    except TimeoutError as exc:  # our safety margin expired: should not happen
        raise _connection_error(label, key.address, budget, exc) from None


async def open_async_client(
    address: str,
    *,
    timeout: float | None = None,
    heartbeat_interval: int | None = None,
    label: str | None = None,
    via: Route | None = None,
    tls: tuple[str, str, str | None] | None = None,
    **options: Any,
) -> Client:
    """Connect a new asynchronous client on the caller's running event loop.

    The client is **not** cached: the caller owns it and closes it
    (``async with`` or ``await client.close()``).

    Parameters
    ----------
    address : str
        The scheduler address.
    timeout : float, optional
        Connect timeout in seconds (default ``DASK_CONNECT_TIMEOUT``).
    heartbeat_interval : int, optional
        Milliseconds between heartbeats.
    label : str, optional
        Name used in error messages.
    via : Route, optional
        Reach the scheduler through this route (see :func:`~tethys_compute.dask.keys.make_key`).
    tls : tuple of str, optional
        The scheduler's own ``(ca, cert, key)`` files for ``tls://``.
    **options
        Extra keyword arguments for ``distributed.Client``.

    Returns
    -------
    distributed.Client
        A running client with ``asynchronous=True``.

    Examples
    --------
    >>> async def count_workers(address):  # doctest: +SKIP
    ...     client = await open_async_client(address, timeout=5)
    ...     async with client:
    ...         info = await client.scheduler.identity()
    ...     return info["n_workers"]
    """
    key = make_key(address, timeout, heartbeat_interval, via, tls, **options)
    return await _open_client(key, options, label)


def scheduler_call(client: Client, method: str, *args: Any, **kwargs: Any) -> Any:
    """``client.<method>(*args, **kwargs)``, counted as one call to the client's scheduler.

    The app's own calls to a Dask scheduler (submit, run_on_scheduler,
    datasets, cancel) go through here, so that :data:`tethys_compute.counters.remote_calls`
    shows how many were made, per scheduler address.

    Examples
    --------
    >>> scheduler_call(client, "submit", sum, [1, 2]).result()  # doctest: +SKIP
    3
    """
    address = str(getattr(client.scheduler, "address", "") or "")
    remote_calls.add("dask", address, "commands")
    return getattr(client, method)(*args, **kwargs)
