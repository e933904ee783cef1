"""The cache of connected clients and the closing rule (see :mod:`tethys_compute.dask`)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from distributed import Client

from tethys_compute.dask.connect import _close_quietly, _run_open
from tethys_compute.dask.handshake import _describe
from tethys_compute.dask.keys import ClientKey, Route, make_key, normalize_address
from tethys_compute.dask.loop import _shared_loop
from tethys_compute.exceptions import (
    ConfigurationError,
    InvalidArgumentError,
    SchedulerConnectionError,
    SchedulerTimeoutError,
)

logger = logging.getLogger(__name__)


#: Seconds a client retired by a record change may keep running while callers
#: still hold futures on it; afterwards it is closed and those futures fail.
DRAIN_TIMEOUT: float = 300.0


# ----------------------------------------------------------------------
# The cache
# ----------------------------------------------------------------------
@dataclass(eq=False)
class _Entry:
    key: ClientKey
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: Client | None = None
    record_ids: set[Any] = field(default_factory=set)
    failure: SchedulerConnectionError | None = None
    failure_label: str | None = None
    failure_at: float = 0.0
    retired: bool = False


_cache: dict[ClientKey, _Entry] = {}
_cache_lock = threading.Lock()


def is_alive(client: Client) -> bool:
    """True when ``client`` is running and its scheduler comm is open (no round trip)."""
    if client.status != "running":
        return False
    comm = client.scheduler_comm
    return comm is not None and comm.comm is not None and not comm.comm.closed()


def get_client(
    address: str,
    *,
    timeout: float | None = None,
    heartbeat_interval: int | None = None,
    label: str | None = None,
    record_id: Any = None,
    via: Route | None = None,
    tls: tuple[str, str, str | None] | None = None,
    **options: Any,
) -> Client:
    """Return the process's connected client for ``address`` and these settings.

    The first call connects (within ``timeout`` seconds); later calls return
    the same client after a dictionary lookup, without a network round trip.
    Thread-safe: threads asking at once for the same key share one
    connection attempt and get the same client.

    Parameters
    ----------
    address : str
        The scheduler address: ``host:port``, ``tcp://host:port`` or
        ``tls://host:port`` (TLS files from ``TETHYS_COMPUTE``).
    timeout : float, optional
        Connect timeout in seconds; None or 0 uses
        ``TETHYS_COMPUTE['DASK_CONNECT_TIMEOUT']``.
    heartbeat_interval : int, optional
        Milliseconds between the client's heartbeats; None for Dask's default.
    label : str, optional
        Name used in error messages (the record's name).
    record_id : optional
        Primary key of the record the client serves; saving or deleting that
        record with other settings retires the client (see the module notes).
    via : Route, optional
        Reach the scheduler through this route (an SSH tunnel, one per
        process, opened once and reused); ``address`` is then as the far end
        sees it.
    tls : tuple of str, optional
        ``(ca_file, cert_file, key_file)`` for this ``tls://`` scheduler
        instead of the ``DASK_TLS_*`` settings.
    **options
        Extra keyword arguments for ``distributed.Client`` (part of the key).

    Returns
    -------
    distributed.Client
        A running client.  Do not close it: it is shared.

    Raises
    ------
    InvalidArgumentError
        For a malformed address or timeout (a ``ValueError``).
    SchedulerTimeoutError
        When the scheduler does not answer within ``timeout`` seconds.
    SchedulerConnectionError
        When the scheduler cannot be reached (refused, unknown host).

    Examples
    --------
    >>> client = get_client("127.0.0.1:8786", timeout=5)  # doctest: +SKIP
    >>> client.submit(sum, [1, 2]).result()  # doctest: +SKIP
    3
    """
    key = make_key(address, timeout, heartbeat_interval, via, tls, **options)
    return _cached(key, options, label, record_id)


def _cached(
    key: ClientKey,
    options: Mapping[str, Any],
    label: str | None,
    record_id: Any,
    limit: float | None = None,
) -> Client:
    """The cached client of ``key``: the fast path, else a bounded connect."""
    entry = _cache.get(key)
    if entry is not None:
        client = entry.client
        if client is not None and is_alive(client):
            if record_id is not None and record_id not in entry.record_ids:
                entry.record_ids.add(record_id)
            return client
    return _connect_cached(key, options, label, record_id, limit)


def _connect_cached(
    key: ClientKey,
    options: Mapping[str, Any],
    label: str | None,
    record_id: Any,
    limit: float | None = None,
) -> Client:
    budget = key.timeout if limit is None else min(key.timeout, limit)
    started = time.monotonic()
    for _attempt in range(3):
        with _cache_lock:
            entry = _cache.get(key)
            if entry is None:
                entry = _cache[key] = _Entry(key)
        remaining = budget - (time.monotonic() - started)
        if not entry.lock.acquire(timeout=max(remaining, 0.0)):
            raise SchedulerTimeoutError(
                f"{_describe(label, key.address)}: another thread's connection attempt did "
                f"not finish within {budget:g} s."
            )
        try:
            if entry.retired:
                continue  # a record change took this entry out of the cache: start over
            client = entry.client
            if client is not None and is_alive(client):
                if record_id is not None:
                    entry.record_ids.add(record_id)
                return client
            if entry.failure is not None and entry.failure_at >= started:
                # Another thread failed while we waited: share its answer, named for
                # this caller's record (several records may share one address).
                message = str(entry.failure).replace(
                    _describe(entry.failure_label, key.address), _describe(label, key.address), 1
                )
                raise type(entry.failure)(message)
            if client is not None:
                # Its scheduler went away; distributed has cancelled its futures already.
                logger.info("Replacing the client of %s: connection lost", key.address)
                entry.client = None
                _close_later(client, drain=False, linger=key.timeout + 1.0)
            try:
                client = _run_open(key, options, label, limit)
            except SchedulerConnectionError as exc:
                # A copy without the traceback: its frames would keep the caller's
                # locals (a refresh's jobs, say) alive for as long as the entry.
                entry.failure = type(exc)(str(exc))
                entry.failure_at = time.monotonic()
                entry.failure_label = label
                raise
            entry.client, entry.failure = client, None
            if record_id is not None:
                entry.record_ids.add(record_id)
            logger.debug("Connected a client to %s", key.address)
            return client
        finally:
            entry.lock.release()
    raise SchedulerConnectionError(  # pragma: no cover - three record changes in a row
        f"{_describe(label, key.address)}: the scheduler record kept changing while connecting."
    )


def new_client(
    address: str,
    *,
    timeout: float | None = None,
    heartbeat_interval: int | None = None,
    label: str | None = None,
    via: Route | None = None,
    tls: tuple[str, str, str | None] | None = None,
    **options: Any,
) -> Client:
    """Connect a new, uncached client on the shared loop; the caller closes it.

    Same parameters, errors and timeout as :func:`get_client`.

    Examples
    --------
    >>> client = new_client("127.0.0.1:8786", timeout=5)  # doctest: +SKIP
    >>> client.close()  # doctest: +SKIP
    """
    key = make_key(address, timeout, heartbeat_interval, via, tls, **options)
    return _run_open(key, options, label)


def cached_client(address: str, **settings: Any) -> Client | None:
    """The cached, live client for ``address`` and settings, or None (never connects)."""
    try:
        key = make_key(address, **settings)
    except (InvalidArgumentError, ConfigurationError):
        return None
    entry = _cache.get(key)
    if entry is None or entry.client is None or not is_alive(entry.client):
        return None
    return entry.client


def cached_clients() -> list[Client]:
    """Every client currently in this process's cache (live or not)."""
    with _cache_lock:
        return [e.client for e in _cache.values() if e.client is not None]


# ----------------------------------------------------------------------
# Closing
# ----------------------------------------------------------------------
# Retired clients waiting for their futures, with their connect timeouts.
_draining: dict[Client, float] = {}
# Strong references to fire-and-forget tasks on the loop (asyncio keeps weak ones).
_background_tasks: set[asyncio.Task[Any]] = set()


def _background(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on the running (shared) loop without waiting for it."""
    task = asyncio.ensure_future(coro)
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)


def _close_later(
    client: Client, *, drain: bool, linger: float, key: ClientKey | None = None
) -> None:
    """Close ``client`` on the loop without waiting: now, or once it holds no futures.

    ``linger`` is the client's connect timeout: see :func:`_close_for_good`.
    With ``key``, its route (tunnel) is closed afterwards unless still in use.
    """
    if not _shared_loop.running:
        if key is not None:
            _release_route(key)
        return
    if drain:
        _draining[client] = linger
    coro = _drain_and_close(client, DRAIN_TIMEOUT if drain else 0.0, linger, key)
    asyncio.run_coroutine_threadsafe(coro, _shared_loop.loop)


def _release_route(key: ClientKey) -> None:
    """Close the route (tunnel) of ``key`` unless a cached client still uses it."""
    if key.via is None:
        return
    remote = key.remote_host_port()
    with _cache_lock:
        shared = any(
            e.key.via == key.via and e.key.remote_host_port() == remote for e in _cache.values()
        )
    if not shared:
        key.via.close(*remote)


async def _close_for_good(client: Client, linger: float) -> None:
    """Close ``client``, and again if it comes back within ``linger`` seconds.

    A client closed while it was reconnecting keeps its reconnect attempt
    running for up to its connect timeout; if the scheduler is back by then,
    that attempt registers the closed client again.  Close it once more.
    """
    await _close_quietly(client)
    await asyncio.sleep(linger)
    if client.status != "closed":
        logger.info("Closing a retired client again: it reconnected after being closed")
        await _close_quietly(client)


async def _drain_and_close(
    client: Client, grace: float, linger: float, key: ClientKey | None = None
) -> None:
    deadline = time.monotonic() + grace
    try:
        while client.futures and time.monotonic() < deadline and client.status == "running":
            await asyncio.sleep(0.1)
        if client.futures:
            logger.warning(
                "Closing the retired client of %s with %d futures still held (after %g s)",
                client.scheduler.address if client.scheduler else "?",
                len(client.futures),
                grace,
            )
        if key is not None and key.via is not None:
            # Close the route with the client, not after the comeback watch below:
            # without its tunnel a closed client cannot come back.
            await _close_quietly(client)
            await asyncio.get_running_loop().run_in_executor(None, _release_route, key)
        await _close_for_good(client, linger)
    finally:
        _draining.pop(client, None)


def _retire(entry: _Entry, *, drain: bool) -> None:
    with _cache_lock:
        if _cache.get(entry.key) is entry:
            del _cache[entry.key]
    with entry.lock:
        entry.retired = True
        client, entry.client = entry.client, None
    if client is not None:
        _close_later(client, drain=drain, linger=entry.key.timeout + 1.0, key=entry.key)
    else:
        _release_route(entry.key)


def close_clients(address: str | None = None, *, timeout: float = 10.0) -> int:
    """Close cached clients now: all of them, or those of one scheduler address.

    Futures held on these clients are cancelled (``FutureCancelledError``).
    With no address, the shared event loop thread is stopped too; it starts
    again on the next use.

    Parameters
    ----------
    address : str, optional
        Only close clients of this scheduler address (any settings).
    timeout : float
        Seconds to wait for the clients to close.

    Returns
    -------
    int
        The number of clients closed.

    Examples
    --------
    >>> close_clients()  # at shutdown
    0
    """
    wanted = normalize_address(address) if address is not None else None
    with _cache_lock:
        entries = [e for e in _cache.values() if wanted is None or e.key.address == wanted]
        for entry in entries:
            del _cache[entry.key]
    lingers: dict[Client, float] = {}
    for entry in entries:
        with entry.lock:
            entry.retired = True
            if entry.client is not None:
                lingers[entry.client] = entry.key.timeout + 1.0
            entry.client = None
    for client, linger in list(_draining.items()):
        if wanted is None or (client.scheduler and client.scheduler.address == wanted):
            lingers[client] = linger
            _draining.pop(client, None)
    if lingers and _shared_loop.running:

        async def close_all() -> None:
            await asyncio.gather(*(_close_quietly(c, timeout) for c in lingers))
            if wanted is not None:  # the loop keeps running: watch for comebacks
                for client, linger in lingers.items():
                    _background(_close_for_good(client, linger))

        try:
            _shared_loop.run(close_all(), timeout + 2.0)
        except TimeoutError:
            logger.warning("Closing %d Dask clients took longer than %g s", len(lingers), timeout)
    for entry in entries:
        _release_route(entry.key)
    if wanted is None:
        _shared_loop.stop()
    return len(lingers)


def has_record_clients(record_id: Any) -> bool:
    """True when some cached client serves the record ``record_id`` (no network)."""
    with _cache_lock:
        return any(record_id in e.record_ids for e in _cache.values())


def retire_record_clients(record_id: Any, current: ClientKey | None) -> int:
    """Retire the clients of a record whose connection settings are no longer ``current``.

    The records side calls it when a record is saved (``current`` is the key of
    its new settings) or deleted (``current`` is None); see the closing rule in
    :mod:`tethys_compute.dask`.  A client another record still uses stays.
    Returns the number of clients retired.
    """
    with _cache_lock:
        entries = [e for e in _cache.values() if record_id in e.record_ids]
    retired = 0
    for entry in entries:
        same_settings = current is not None and (
            entry.key.address,
            entry.key.timeout,
            entry.key.heartbeat_interval,
            entry.key.tls_files,
            entry.key.via,
        ) == (
            current.address,
            current.timeout,
            current.heartbeat_interval,
            current.tls_files,
            current.via,
        )
        if same_settings:
            continue
        entry.record_ids.discard(record_id)
        if not entry.record_ids:
            logger.info(
                "Retiring the client of %s (record %r changed)", entry.key.address, record_id
            )
            _retire(entry, drain=True)
            retired += 1
    return retired


def _forget_after_fork() -> None:
    """In a forked child the parent's loop thread and sockets are not ours."""
    global _cache_lock
    _cache.clear()
    _draining.clear()
    _cache_lock = threading.Lock()
    _shared_loop.forget()


os.register_at_fork(after_in_child=_forget_after_fork)


@atexit.register
def _close_at_exit() -> None:
    """Say goodbye to the schedulers (bounded) rather than drop the connections."""
    if _shared_loop.running:
        with contextlib.suppress(Exception):
            close_clients(timeout=2.0)


def retire_routed_clients(is_gone: Callable[[Route], bool]) -> int:
    """Retire the clients whose route ``is_gone`` says no longer holds (its SSH record changed).

    Their routes are closed with them.  Returns the number of clients retired.
    """
    with _cache_lock:
        entries = [e for e in _cache.values() if e.key.via is not None and is_gone(e.key.via)]
    for entry in entries:
        _retire(entry, drain=False)
    return len(entries)
