"""Connected ``distributed.Client`` objects for Dask schedulers, cached per process.

This module is the one place where tethys-compute talks to a Dask scheduler.
:class:`~tethys_compute.models.DaskScheduler` uses it for ``client``,
``get_client()``, ``test_connection()`` and ``dashboard_link``; the cluster
manager and :mod:`tethys_compute.dask_processes` use :func:`scheduler_identity`
to ask a scheduler who it is and how many workers it has.

How it works
------------
* **One shared event loop.** Every cached client lives on one background
  event loop thread of this module (started on first use), so any number of
  schedulers and request threads costs one thread, not one per client.
* **Bounded connect.** ``distributed.Client(address, timeout=...)`` can wait
  forever on a port that accepts TCP but never answers (its handshake read has
  no timeout), so we first ask the scheduler's identity ourselves under our own
  deadline (:mod:`tethys_compute.dask_probe`: plain data only, nothing is
  unpickled), then create the client under what is left of that deadline.  A
  timed-out attempt is cancelled on the loop and its socket closed; nothing is
  left behind.
* **Cache key.** Address (with its scheme, ``tcp://`` by default), connect
  timeout, heartbeat interval, the TLS files for ``tls://`` addresses and any
  extra keyword arguments.  Two records with the same settings share a client.
* **Fast path.** A cached client is returned after a dictionary lookup and a
  look at ``client.status`` and its scheduler comm: no network round trip.
  A client whose scheduler went away is replaced on next use.
* **Trust.** A ``distributed.Client`` trusts its scheduler (results travel
  pickled).  :func:`check_scheduler` ("Test connection") and
  :func:`scheduler_identity` therefore use no client, only the probe.

The closing rule
----------------
Closing or replacing a client never silently cancels work that a caller
still holds futures for:

1. A client in the cache is never closed while it is healthy.
2. A client whose connection to the scheduler broke is replaced on next use
   and closed at once: ``distributed`` has already cancelled its futures
   loudly (``FutureCancelledError``, reason ``scheduler-connection-lost``),
   because a scheduler that went away has lost their results anyway.
3. When a record is saved with different connection settings (host, timeout,
   heartbeat) or deleted, its client leaves the cache at once (new callers get
   a new client) and is **drained**: it is closed as soon as no futures are
   held on it any more, and at the latest after :data:`DRAIN_TIMEOUT` seconds;
   futures still held then fail loudly with ``FutureCancelledError``.  Saving a
   record without changing those settings (a new description) keeps the client.
4. :func:`close_clients` closes clients immediately (shutdown, tests).

``QuerySet.update()`` sends no signals, so records changed that way keep their
client until :func:`close_clients` is called.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from distributed import Client
from distributed.comm.addressing import parse_host_port
from distributed.security import Security
from distributed.versions import get_versions
from django.core.exceptions import ValidationError

from tethys_compute import dask_probe
from tethys_compute.counters import remote_calls
from tethys_compute.exceptions import (
    ConfigurationError,
    InvalidArgumentError,
    SchedulerConnectionError,
    SchedulerTimeoutError,
)
from tethys_compute.health import HealthResult
from tethys_compute.ssh import tunnel as ssh_tunnel
from tethys_compute.ssh.target import SSHTarget
from tethys_compute.validators import validate_dask_address

if TYPE_CHECKING:
    from tethys_compute.models import DaskScheduler

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a client retired by a record change may keep running while callers
#: still hold futures on it; afterwards it is closed and those futures fail.
DRAIN_TIMEOUT: float = 300.0

#: Packages whose versions :func:`check_scheduler` compares between sides.
VERSION_PACKAGES: tuple[str, ...] = ("python", "dask", "distributed", "msgpack")

#: Keyword arguments of ``distributed.Client`` that this module sets itself.
_RESERVED_OPTIONS = frozenset(
    {"address", "loop", "asynchronous", "security", "set_as_default", "timeout"}
)

_DEFAULT_SCHEME = "tcp"

#: Name of this module's event loop thread (one per process).
LOOP_THREAD_NAME = "tethys-dask-loop"


# ----------------------------------------------------------------------
# Cache keys
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class ClientKey:
    """What makes two clients interchangeable: where and how they connect.

    Attributes
    ----------
    address : str
        The scheduler address with its scheme (``tcp://`` is added when absent).
    timeout : float
        Connect timeout in seconds (always set: the record's or the default).
    heartbeat_interval : int or None
        Milliseconds between heartbeats; None for Dask's default.
    tls_files : tuple of (str or None) or None
        ``(ca_file, cert_file, key_file)`` for ``tls://`` addresses.
    options : tuple of (str, str)
        Extra ``distributed.Client`` keyword arguments, as ``(name, repr)``.
    via : SSHTarget or None
        Reach the scheduler through an SSH tunnel over this target's
        connection (:mod:`tethys_compute.ssh.tunnel`); ``address`` is then
        the address as the SSH server sees it.
    """

    address: str
    timeout: float
    heartbeat_interval: int | None = None
    tls_files: tuple[str | None, str | None, str | None] | None = None
    options: tuple[tuple[str, str], ...] = ()
    via: SSHTarget | None = None

    def remote_host_port(self) -> tuple[str, int]:
        """The scheduler's host and port, as the far end of a tunnel needs them."""
        host, port = parse_host_port(self.address.split("://", 1)[1])
        return str(host), int(port)

    def security(self) -> Security | None:
        """The :class:`distributed.security.Security` for this address, or None."""
        if self.tls_files is None:
            return None
        return tls_security(*self.tls_files)


def tls_security(
    ca_file: str | None, cert_file: str | None, key_file: str | None = None
) -> Security:
    """A ``distributed`` :class:`~distributed.security.Security` for ``tls://`` addresses.

    Parameters
    ----------
    ca_file : str
        The CA certificate(s) that signed the other side's certificate.
    cert_file : str
        Our certificate (``distributed`` needs one on both sides).
    key_file : str, optional
        Our private key, when it is not in ``cert_file``.

    Returns
    -------
    distributed.security.Security
        With encryption required.

    Examples
    --------
    >>> tls_security("/etc/dask/ca.pem", "/etc/dask/portal.pem").require_encryption
    True
    """
    return Security(
        tls_ca_file=ca_file,
        tls_client_cert=cert_file,
        tls_client_key=key_file,
        require_encryption=True,
    )


def normalize_address(address: str) -> str:
    """Return ``address`` with its scheme, after validating it.

    Parameters
    ----------
    address : str
        ``host:port``, ``tcp://host:port`` or ``tls://host:port``.

    Returns
    -------
    str
        The address with a scheme, e.g. ``tcp://127.0.0.1:8786``.

    Raises
    ------
    InvalidArgumentError
        (a ``ValueError``) when the address is not a valid Dask scheduler
        address; the message says what a good one looks like.

    Examples
    --------
    >>> normalize_address("127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    >>> normalize_address("tls://dask.example.com:8786")
    'tls://dask.example.com:8786'
    """
    if not isinstance(address, str):
        raise InvalidArgumentError(
            f"A Dask scheduler address must be a string, not {type(address).__name__}."
        )
    address = address.strip()
    try:
        validate_dask_address(address)
    except ValidationError as exc:
        raise InvalidArgumentError(" ".join(exc.messages)) from None
    if "://" not in address:
        address = f"{_DEFAULT_SCHEME}://{address}"
    return address


def make_key(
    address: str,
    timeout: float | None = None,
    heartbeat_interval: int | None = None,
    via: SSHTarget | None = None,
    tls: tuple[str, str, str | None] | None = None,
    **options: Any,
) -> ClientKey:
    """Build the cache key for a scheduler address and connection settings.

    Parameters
    ----------
    address : str
        The scheduler address (validated, see :func:`normalize_address`).
    timeout : float, optional
        Connect timeout in seconds; None or 0 uses
        ``TETHYS_COMPUTE['DASK_CONNECT_TIMEOUT']``.
    heartbeat_interval : int, optional
        Milliseconds between client heartbeats; None or 0 uses Dask's default.
    via : SSHTarget, optional
        Reach the scheduler through an SSH tunnel over this target.
    tls : tuple of str, optional
        ``(ca_file, cert_file, key_file)`` of this scheduler, for a
        ``tls://`` address, instead of the ``DASK_TLS_*`` settings.
    **options
        Extra keyword arguments for ``distributed.Client``.

    Returns
    -------
    ClientKey

    Examples
    --------
    >>> key = make_key("127.0.0.1:8786", timeout=3)
    >>> (key.address, key.timeout)
    ('tcp://127.0.0.1:8786', 3.0)
    """
    from tethys_compute.conf import compute_settings

    address = normalize_address(address)
    reserved = _RESERVED_OPTIONS.intersection(options)
    if reserved:
        raise InvalidArgumentError(
            "These distributed.Client arguments are set by tethys-compute and cannot be "
            f"given: {', '.join(sorted(reserved))}. Set the timeout on the scheduler record "
            "or pass timeout= to get_client()."
        )
    if timeout is None or timeout == 0:
        timeout = compute_settings.DASK_CONNECT_TIMEOUT
    try:
        timeout = float(timeout)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"The Dask connect timeout must be a number of seconds, not {timeout!r}."
        ) from None
    if timeout <= 0:
        raise InvalidArgumentError(
            f"The Dask connect timeout must be a positive number of seconds, not {timeout!r}."
        )
    if heartbeat_interval is not None and heartbeat_interval <= 0:
        heartbeat_interval = None
    tls_files = None
    if address.startswith("tls://") and tls is not None:
        tls_files = tls
    elif address.startswith("tls://"):
        tls_files = (
            compute_settings.DASK_TLS_CA_FILE,
            compute_settings.DASK_TLS_CERT_FILE,
            compute_settings.DASK_TLS_KEY_FILE,
        )
        names = ("DASK_TLS_CA_FILE", "DASK_TLS_CERT_FILE")
        missing = [name for name, value in zip(names, tls_files[:2], strict=True) if not value]
        if missing:
            raise ConfigurationError(
                f"{address} is a tls:// address but TETHYS_COMPUTE[{missing[0]!r}] is not "
                "set. Set DASK_TLS_CA_FILE to the CA certificate that signed the scheduler's "
                "certificate and DASK_TLS_CERT_FILE (with DASK_TLS_KEY_FILE unless the key is "
                "in the same file) to the portal's certificate: Dask's TLS needs both."
            )
    return ClientKey(
        address=address,
        timeout=timeout,
        heartbeat_interval=heartbeat_interval,
        tls_files=tls_files,
        options=tuple(sorted((name, repr(value)) for name, value in options.items())),
        via=via,
    )


def key_for_scheduler(scheduler: DaskScheduler, **overrides: Any) -> ClientKey:
    """The cache key of a scheduler record (``overrides`` as in ``get_client``)."""
    timeout = overrides.pop("timeout", None)
    heartbeat = overrides.pop("heartbeat_interval", None)
    return make_key(
        scheduler.host,
        timeout=scheduler.timeout if timeout is None else timeout,
        heartbeat_interval=scheduler.heartbeat_interval if heartbeat is None else heartbeat,
        via=scheduler.tunnel_target(),
        tls=scheduler.tls_files(),
        **overrides,
    )


# ----------------------------------------------------------------------
# The shared event loop
# ----------------------------------------------------------------------
class _DropCancelled(logging.Filter):
    """Drop log records of cancelled tasks from one thread (our loop, while it stops)."""

    def __init__(self, thread_id: int) -> None:
        super().__init__()
        self.thread_id = thread_id

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (record.thread == self.thread_id and isinstance(error, asyncio.CancelledError))


class _SharedLoop:
    """One background event loop thread per process, started on first use.

    A plain asyncio loop in a daemon thread named :data:`LOOP_THREAD_NAME`;
    clients created on it (``asynchronous=True`` inside the loop) are used
    synchronously from any other thread, as ``distributed`` allows.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._loop is None:
                    self._start()
                loop = self._loop
        assert loop is not None
        return loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    # distributed logs every cancelled task (a closed client's last
                    # reconnect attempt, say) as an error; here it is expected.
                    # It logs through the logger of the module that failed.
                    quiet = _DropCancelled(threading.get_ident())
                    loggers = [
                        logging.getLogger(name)
                        for name in list(logging.root.manager.loggerDict)
                        if name.startswith("distributed")
                    ]
                    for each in loggers:
                        each.addFilter(quiet)
                    try:
                        loop.run_until_complete(asyncio.wait(pending, timeout=5))
                    finally:
                        for each in loggers:
                            each.removeFilter(quiet)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())  # DNS threads
                loop.close()

        thread = threading.Thread(target=run, name=LOOP_THREAD_NAME, daemon=True)
        thread.start()
        if not ready.wait(timeout=10):  # pragma: no cover - a thread that cannot start
            raise RuntimeError("The Dask client event loop thread did not start")
        self._loop, self._thread = loop, thread

    @property
    def running(self) -> bool:
        return self._loop is not None

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait at most ``timeout`` seconds for it."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(
                "tethys_compute.dask_client was called from its own event loop; "
                "use get_client(asynchronous=True) in asynchronous code."
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"did not finish within {timeout:g} s") from None

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def forget(self) -> None:
        """Drop the loop without stopping it (in a forked child it does not exist)."""
        self._loop = self._thread = None
        self._lock = threading.Lock()


_shared_loop = _SharedLoop()


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


# ----------------------------------------------------------------------
# Creating clients
# ----------------------------------------------------------------------
async def _reach(key: ClientKey, label: str | None, budget: float) -> str:
    """The address to connect to: the scheduler's, or the local end of its SSH tunnel."""
    if key.via is None:
        return key.address
    host, port = key.remote_host_port()
    opening = asyncio.get_running_loop().run_in_executor(
        None, ssh_tunnel.forward, key.via, host, port
    )
    try:
        tunnel = await asyncio.wait_for(opening, budget)
    except (SchedulerConnectionError, TimeoutError) as exc:  # SSHError is one
        kind = SchedulerTimeoutError if isinstance(exc, TimeoutError) else SchedulerConnectionError
        raise kind(
            f"{_describe(label, key.address)} is reached through the SSH connection of "
            f"{key.via.display}, and that failed: {exc or 'no answer in time'}"
        ) from None
    scheme = key.address.split("://", 1)[0]
    return f"{scheme}://{tunnel.local_address}"


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
    address = await _reach(key, label, budget)
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
    via: SSHTarget | None = None,
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
_closer_registered = False


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
    via: SSHTarget | None = None,
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
    via : SSHTarget, optional
        Reach the scheduler through one SSH tunnel per process over this
        target's connection (:func:`tethys_compute.ssh.tunnel.forward`);
        ``address`` is then as the SSH server sees it.
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
                entry.failure, entry.failure_at = exc, time.monotonic()
                entry.failure_label = label
                raise
            entry.client, entry.failure = client, None
            if record_id is not None:
                entry.record_ids.add(record_id)
            _ensure_closer_registered()
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
    via: SSHTarget | None = None,
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
    With ``key``, its SSH tunnel is closed afterwards unless still in use.
    """
    if not _shared_loop.running:
        if key is not None:
            _release_tunnel(key)
        return
    if drain:
        _draining[client] = linger
    coro = _drain_and_close(client, DRAIN_TIMEOUT if drain else 0.0, linger, key)
    asyncio.run_coroutine_threadsafe(coro, _shared_loop.loop)


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


def _release_tunnel(key: ClientKey) -> None:
    """Close the SSH tunnel of ``key`` unless a cached client still uses it."""
    if key.via is None:
        return
    remote = key.remote_host_port()
    with _cache_lock:
        shared = any(
            e.key.via == key.via and e.key.remote_host_port() == remote for e in _cache.values()
        )
    if not shared:
        ssh_tunnel.close_tunnel(key.via, *remote)


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
            # Close the tunnel with the client, not after the comeback watch below:
            # without its tunnel a closed client cannot come back.
            await _close_quietly(client)
            await asyncio.get_running_loop().run_in_executor(None, _release_tunnel, key)
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
        _release_tunnel(entry.key)


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
        _release_tunnel(entry.key)
    if wanted is None:
        ssh_tunnel.close_tunnels()
        _shared_loop.stop()
    return len(lingers)


def close_scheduler_clients(scheduler: Any) -> None:
    """Retire the clients of a saved or deleted record whose settings changed.

    Registered with :func:`tethys_compute.signals.register_closer`; see the
    closing rule in the module notes.
    """
    from tethys_compute.models import DaskScheduler

    if scheduler.pk is not None and not isinstance(scheduler, DaskScheduler):
        # An SSH scheduler changed: its connection is closed (ssh.pool), and so are
        # the clients tunnelled through it and their tunnels.
        with _cache_lock:
            tunnelled = [
                e for e in _cache.values() if e.key.via and e.key.via.scheduler_pk == scheduler.pk
            ]
        for entry in tunnelled:
            _retire(entry, drain=False)
        ssh_tunnel.close_tunnels_of_scheduler(scheduler.pk)
        return
    if not isinstance(scheduler, DaskScheduler) or scheduler.pk is None:
        return
    with _cache_lock:
        entries = [e for e in _cache.values() if scheduler.pk in e.record_ids]
    if not entries:
        return  # no client of this record: no query, nothing to do
    # The same closer runs after saves and deletes: a deleted row is gone.
    deleted = not type(scheduler).objects.filter(pk=scheduler.pk).exists()
    try:
        current = None if deleted else key_for_scheduler(scheduler)
    except (InvalidArgumentError, ConfigurationError):
        current = None
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
        entry.record_ids.discard(scheduler.pk)
        if not entry.record_ids:
            logger.info(
                "Retiring the client of %s (record %r changed)", entry.key.address, scheduler
            )
            _retire(entry, drain=True)


def _ensure_closer_registered() -> None:
    global _closer_registered
    if _closer_registered:
        return
    from django.apps import apps

    if not apps.models_ready:
        return
    from tethys_compute.signals import register_closer

    register_closer(close_scheduler_clients)
    _closer_registered = True


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


def _package_versions(versions: Any) -> dict[str, str | None]:
    """Pick :data:`VERSION_PACKAGES` out of one side of ``get_versions()``."""
    if not isinstance(versions, dict):
        return {}
    packages = versions.get("packages") or {}
    if not isinstance(packages, dict):
        return {}
    found = {name: packages.get(name) for name in VERSION_PACKAGES}
    return {name: None if value is None else str(value)[:60] for name, value in found.items()}


def version_warnings(sides: Mapping[str, Mapping[str, str | None]]) -> list[str]:
    """One warning per package whose version differs between sides.

    Parameters
    ----------
    sides : mapping
        Side name (``"client"``, ``"scheduler"``, ``"worker tcp://..."``) to
        ``{package: version}``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> version_warnings({"client": {"dask": "2026.8.0"}, "scheduler": {"dask": "2026.7.0"}})
    ['dask versions differ: client 2026.8.0, scheduler 2026.7.0']
    """
    warnings: list[str] = []
    for package in VERSION_PACKAGES:
        seen = {side: versions.get(package) for side, versions in sides.items()}
        if len(set(seen.values())) > 1:
            listing = ", ".join(f"{side} {version}" for side, version in seen.items())
            warnings.append(f"{package} versions differ: {listing}")
    return warnings


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
    address = await _reach(key, label, budget)
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
    via: SSHTarget | None = None,
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
    via : SSHTarget, optional
        Reach the scheduler through the SSH tunnel over this target.
    tls : tuple of str, optional
        The scheduler's own TLS files (see :func:`get_client`).

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
    from tethys_compute.conf import compute_settings

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


def _report_versions(result: HealthResult, scheduler: Any, workers: dict[Any, Any]) -> None:
    versions: dict[str, Any] = {
        "client": _package_versions(get_versions()),
        "scheduler": _package_versions(scheduler),
        "workers": {
            str(addr): _package_versions(v) for addr, v in workers.items() if isinstance(v, dict)
        },
    }
    result.versions = versions
    sides: dict[str, Mapping[str, str | None]] = {
        "client": versions["client"],
        "scheduler": versions["scheduler"],
    }
    sides.update({f"worker {addr}": v for addr, v in versions["workers"].items()})
    mismatches = version_warnings(sides)
    result.warnings.extend(mismatches)
    if mismatches:
        result.passed("versions", f"{len(mismatches)} packages differ (see warnings)")
    else:
        result.passed("versions", "python, dask, distributed and msgpack match")


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


_ensure_closer_registered()
