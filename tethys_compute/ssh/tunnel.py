"""Local port forwarding over the cached SSH connection of a target.

A :class:`Tunnel` listens on a free port of ``127.0.0.1`` and carries every
connection made to it, as an SSH ``direct-tcpip`` channel, to one remote
``host:port`` as the SSH server sees it (``ssh -L`` does the same).  It rides
on the one transport :mod:`tethys_compute.ssh.pool` keeps per target, so a
tunnel costs no extra SSH login; after that transport is lost, the next
connection through the tunnel reconnects it.

:func:`forward` keeps **one tunnel per process per (target, remote address)**
and returns it again on later calls; :func:`close_tunnel`,
:func:`close_tunnels` and :func:`close_owner_tunnels` close them
(their listening port and every connection carried).  A forked child forgets
its parent's tunnels.

Only plain targets come in (an :class:`~tethys_compute.ssh.target.SSHTarget`
and a remote address), never a record: the Dask client cache
(:mod:`tethys_compute.dask_client`) decides when a tunnel is needed.

Examples
--------
>>> tunnel = forward(target, "127.0.0.1", 8786)  # doctest: +SKIP
>>> tunnel.local_address  # doctest: +SKIP
'127.0.0.1:40571'
>>> close_tunnels()  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paramiko

from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import SSHError, SSHTimeoutError
from tethys_compute.ssh.pool import connection_for
from tethys_compute.ssh.target import SSHTarget

logger = logging.getLogger(__name__)

#: Seconds between checks of the closing flag by the tunnel's threads.
_TICK = 0.5
#: Bytes moved per read.
_CHUNK = 65536
#: Seconds :meth:`Tunnel.close` waits for each of its threads.
_JOIN_TIMEOUT = 2.0


@dataclass(frozen=True)
class TunnelKey:
    """What makes two tunnels the same: the SSH target and the remote address."""

    target: tuple[str, int, str, str]
    remote_host: str
    remote_port: int


class Tunnel:
    """One listening port on 127.0.0.1 forwarded to ``remote_host:remote_port``.

    Parameters
    ----------
    target : SSHTarget
        The SSH server whose connection carries the traffic.
    remote_host : str
        The host to reach, as the SSH server resolves it (``127.0.0.1`` is the
        SSH server itself).
    remote_port : int
        The port to reach there.

    Attributes
    ----------
    local_port : int
        The forwarded port on ``127.0.0.1`` (0 until :meth:`start`).
    """

    def __init__(self, target: SSHTarget, remote_host: str, remote_port: int) -> None:
        self.target = target
        self.remote_host = remote_host
        self.remote_port = int(remote_port)
        self.local_port = 0
        self.closed = False
        self.accepted = 0
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._pipes: set[tuple[socket.socket, paramiko.Channel]] = set()
        self._threads: set[threading.Thread] = set()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.open_connections} open"
        return f"<Tunnel {self.local_address} -> {self.remote} via {self.target.display} ({state})>"

    @property
    def remote(self) -> str:
        """``host:port`` on the far side."""
        return f"{self.remote_host}:{self.remote_port}"

    @property
    def local_address(self) -> str:
        """``127.0.0.1:<port>``: connect here to reach :attr:`remote`."""
        return f"127.0.0.1:{self.local_port}"

    @property
    def open_connections(self) -> int:
        """Connections carried right now."""
        with self._lock:
            return len(self._pipes)

    @property
    def alive(self) -> bool:
        """True while the tunnel listens (its SSH transport may reconnect later)."""
        return not self.closed and self._listener is not None

    def start(self) -> Tunnel:
        """Connect the SSH transport (bounded by the SSH timeouts) and start listening.

        Raises
        ------
        SSHError
            When the target cannot be reached or refuses us (its message says why).
        """
        connection_for(self.target).ensure_transport()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(_TICK)
        self._listener = listener
        self.local_port = int(listener.getsockname()[1])
        self._spawn(self._accept_loop, "accept")
        logger.info("Forwarding %s to %s through %s", self.local_address, self.remote, self.target)
        return self

    def _spawn(self, func: Callable[..., None], what: str, *args: object) -> None:
        thread = threading.Thread(
            target=func,
            args=args,
            name=f"tethys-ssh-tunnel-{self.local_port}-{what}",
            daemon=True,
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        try:
            while not self.closed:
                try:
                    sock, peer = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break  # closed under us
                self.accepted += 1
                self._spawn(self._carry, "pipe", sock, peer)
        finally:
            self._forget_thread()

    def _open_channel(self, peer: tuple[str, int]) -> paramiko.Channel:
        transport, _generation = connection_for(self.target).ensure_transport()
        with contextlib.suppress(OSError):
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
        timeout = float(compute_settings.SSH_CONNECT_TIMEOUT)
        try:
            return transport.open_channel(
                "direct-tcpip", (self.remote_host, self.remote_port), peer, timeout=timeout
            )
        except paramiko.ChannelException as exc:
            raise SSHError(
                f"{self.target.display} could not open a connection to {self.remote}: "
                f"{exc.text or exc.code}. Check that something listens there and that the "
                "SSH server allows TCP forwarding (AllowTcpForwarding)."
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SSHTimeoutError(
                f"{self.target.display} did not open a forwarded connection to {self.remote} "
                f"within {timeout:g} s (SSH_CONNECT_TIMEOUT): {exc or type(exc).__name__}."
            ) from None

    def _carry(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        try:
            try:
                channel = self._open_channel(peer)
            except SSHError as exc:
                # Expected while the far side restarts (clients retry): not a warning.
                logger.info("Tunnel %s: %s", self.local_address, exc)
                sock.close()
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self.closed:
                    channel.close()
                    sock.close()
                    return
                self._pipes.add((sock, channel))
            try:
                _pump(sock, channel, lambda: self.closed)
            except (OSError, ValueError, EOFError, paramiko.SSHException) as exc:
                # A side went away (or close() closed it under us): the pipe ends.
                if not self.closed:
                    logger.debug("Tunnel %s: a connection ended: %r", self.local_address, exc)
            finally:
                with self._lock:
                    self._pipes.discard((sock, channel))
                channel.close()
                sock.close()
        finally:
            self._forget_thread()

    def _forget_thread(self) -> None:
        with self._lock:
            self._threads.discard(threading.current_thread())

    def close(self) -> None:
        """Stop listening and close every connection carried (bounded wait)."""
        with self._lock:
            self.closed = True
            pipes = list(self._pipes)
            threads = list(self._threads)
        if self._listener is not None:
            self._listener.close()
        for sock, channel in pipes:
            channel.close()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT)
        logger.info("Closed the tunnel %s to %s", self.local_address, self.remote)


def _pump(sock: socket.socket, channel: paramiko.Channel, stopping: Callable[[], bool]) -> None:
    """Copy bytes both ways until either side closes or ``stopping()`` is true."""
    while not stopping():
        watched: list[Any] = [sock, channel]
        readable, _, _ = select.select(watched, [], [], _TICK)
        if sock in readable:
            data = sock.recv(_CHUNK)
            if not data:
                return
            channel.sendall(data)
        if channel in readable:
            data = channel.recv(_CHUNK)
            if not data:
                return
            sock.sendall(data)


# ----------------------------------------------------------------------------
# The per-process cache
# ----------------------------------------------------------------------------
_tunnels: dict[TunnelKey, Tunnel] = {}
_tunnels_lock = threading.Lock()


def _key(target: SSHTarget, remote_host: str, remote_port: int) -> TunnelKey:
    return TunnelKey(target.cache_key(), remote_host, int(remote_port))


def forward(target: SSHTarget, remote_host: str, remote_port: int) -> Tunnel:
    """The process's tunnel to ``remote_host:remote_port`` through ``target``.

    Opened on first use (connecting the target's SSH transport first), then
    returned again without any network traffic.

    Parameters
    ----------
    target : SSHTarget
        The SSH server whose connection carries the traffic.
    remote_host : str
        The host to reach, as the SSH server resolves it.
    remote_port : int
        The port to reach there.

    Returns
    -------
    Tunnel
        Listening on :attr:`Tunnel.local_address`.

    Raises
    ------
    SSHError
        When the target cannot be reached (also a ``ConnectionError``).

    Examples
    --------
    >>> forward(target, "127.0.0.1", 8786).local_address  # doctest: +SKIP
    '127.0.0.1:40571'
    """
    key = _key(target, remote_host, remote_port)
    with _tunnels_lock:
        tunnel = _tunnels.get(key)
        if tunnel is not None and tunnel.alive:
            return tunnel
        tunnel = Tunnel(target, remote_host, int(remote_port)).start()
        _tunnels[key] = tunnel
        return tunnel


def find_tunnel(target: SSHTarget, remote_host: str, remote_port: int) -> Tunnel | None:
    """The open tunnel of ``forward(target, remote_host, remote_port)``, or None."""
    tunnel = _tunnels.get(_key(target, remote_host, remote_port))
    return tunnel if tunnel is not None and tunnel.alive else None


def open_tunnels() -> list[Tunnel]:
    """Every open tunnel of this process."""
    with _tunnels_lock:
        return [t for t in _tunnels.values() if t.alive]


def close_tunnel(target: SSHTarget, remote_host: str, remote_port: int) -> bool:
    """Close the tunnel to ``remote_host:remote_port`` through ``target``; True if one was open."""
    with _tunnels_lock:
        tunnel = _tunnels.pop(_key(target, remote_host, remote_port), None)
    if tunnel is None:
        return False
    tunnel.close()
    return True


def close_owner_tunnels(owner: str) -> int:
    """Close the tunnels through the SSH connections of one owner (:attr:`SSHTarget.owner`)."""
    if not owner:
        return 0
    with _tunnels_lock:
        doomed = [k for k, t in _tunnels.items() if t.target.owner == owner]
        tunnels = [_tunnels.pop(k) for k in doomed]
    for tunnel in tunnels:
        tunnel.close()
    return len(tunnels)


def close_tunnels() -> int:
    """Close every tunnel of this process; returns how many were open."""
    with _tunnels_lock:
        tunnels = list(_tunnels.values())
        _tunnels.clear()
    for tunnel in tunnels:
        tunnel.close()
    return len(tunnels)


def _forget_after_fork() -> None:
    global _tunnels_lock
    _tunnels.clear()
    _tunnels_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(close_tunnels)
