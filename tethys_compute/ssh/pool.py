"""One connection per target per process: the cache, its sessions and SFTP."""

from __future__ import annotations

import atexit
import logging
import threading
import time

import paramiko
from paramiko.hostkeys import InvalidHostKey

from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import (
    SSHConnectionRefusedError,
    SSHError,
    SSHTimeoutError,
    SSHUnreachableError,
)
from tethys_compute.ssh.connect import (
    authenticate,
    known_key_types,
    start_transport,
    verify_host_key,
)
from tethys_compute.ssh.session import Session, SessionLost, SessionTimeout
from tethys_compute.ssh.target import SSHTarget

logger = logging.getLogger(__name__)

#: Keepalive interval of idle transports, in seconds.
KEEPALIVE_INTERVAL = 30
#: Connection attempts when the handshake itself fails (not for auth or host key errors).
CONNECT_ATTEMPTS = 2


# ----------------------------------------------------------------------------
# Connections and their cache
# ----------------------------------------------------------------------------
class Connection:
    """One transport to a target, its pool of sessions and its SFTP client."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self.transport: paramiko.Transport | None = None
        self.generation = 0
        self.host_key_status = ""
        self.auth_method = ""
        self.tcp_ms: float | None = None
        self.closed = False
        self._connect_lock = threading.Lock()
        self._pool = threading.Condition(threading.Lock())
        self._idle: list[Session] = []
        self._sessions = 0
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_generation = -1
        self._sftp_lock = threading.Lock()

    # -- transport ----------------------------------------------------------
    def transport_active(self) -> bool:
        return self.transport is not None and self.transport.is_active()

    def ensure_transport(self) -> tuple[paramiko.Transport, int]:
        """The live transport (connecting or reconnecting first) and its generation."""
        with self._connect_lock:
            if self.closed:
                raise SSHError(f"The connection to {self.target.display} was closed.")
            if self.transport is not None and self.transport.is_active():
                return self.transport, self.generation
            if self.transport is not None:
                logger.info("SSH connection to %s was lost; reconnecting", self.target.display)
                self.transport.close()
                self.transport = None
            self.transport = self._connect()
            self.generation += 1
            return self.transport, self.generation

    def _connect(self) -> paramiko.Transport:
        target = self.target
        prefer = known_key_types(target)
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                transport, self.tcp_ms = start_transport(target, prefer)
                break
            except (SSHUnreachableError, SSHConnectionRefusedError, SSHTimeoutError):
                # Final answers: a second try would only double the wait.
                raise
            except SSHError:
                if attempt == CONNECT_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
        try:
            self.host_key_status = verify_host_key(target, transport.get_remote_server_key())
            self.auth_method = authenticate(transport, target)
        except SSHError:
            transport.close()
            raise
        except (paramiko.SSHException, InvalidHostKey, EOFError, OSError, ValueError) as exc:
            # Whatever paramiko raises leaves as one of our errors (never a secret in it).
            transport.close()
            raise SSHError(
                f"Connecting to {target.display} failed: {type(exc).__name__}: "
                f"{str(exc)[:300] or 'no message'}."
            ) from None
        except BaseException:
            transport.close()
            raise
        transport.set_keepalive(KEEPALIVE_INTERVAL)
        logger.info(
            "SSH connected to %s (%s; %s)", target.display, self.auth_method, self.host_key_status
        )
        return transport

    # -- sessions -------------------------------------------------------------
    def acquire(self, deadline: float) -> Session:
        with self._pool:
            while True:
                if self.closed:
                    raise SSHError(f"The connection to {self.target.display} was closed.")
                while self._idle:
                    session = self._idle.pop()
                    if session.generation == self.generation and session.usable:
                        return session
                    session.close()
                    self._sessions -= 1
                if self._sessions < max(1, int(compute_settings.SSH_MAX_SESSIONS)):
                    self._sessions += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SSHTimeoutError(
                        f"All {self._sessions} sessions to {self.target.display} stayed busy "
                        "until the command's timeout (setting SSH_MAX_SESSIONS)."
                    )
                self._pool.wait(remaining)
        try:
            transport, generation = self.ensure_transport()
            timeout = max(min(deadline - time.monotonic(), session_start_timeout()), 0.001)
            return Session(transport, generation, timeout, self.target.driver, self.target.address)
        except SSHError:
            self._forget_one()
            raise
        except SessionTimeout:
            self._forget_one()
            raise SSHTimeoutError(
                f"The remote shell on {self.target.display} did not start in time."
            ) from None
        except SessionLost as exc:
            self._forget_one()
            raise SSHError(
                f"Cannot start a remote shell on {self.target.display}: {exc}. The account "
                "needs a working login shell and /bin/sh, mktemp, wc and cat."
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._forget_one()
            raise SSHError(
                f"Cannot open a session on {self.target.display}: {exc or type(exc).__name__}."
            ) from None
        except BaseException:
            self._forget_one()
            raise

    def _forget_one(self) -> None:
        with self._pool:
            self._sessions -= 1
            self._pool.notify()

    def release(self, session: Session, healthy: bool) -> None:
        with self._pool:
            if healthy and not self.closed and session.generation == self.generation:
                self._idle.append(session)
            else:
                session.close()
                self._sessions -= 1
            self._pool.notify()

    def kill(self, session: Session) -> None:
        """Kill a session's remote processes (its process group) and drop it."""
        command = (
            f"kill -s KILL -- -{session.pgid} 2>/dev/null; kill -s KILL {session.pid} "
            "2>/dev/null; true"
        )
        try:
            channel = session.transport.open_session(timeout=5)
            channel.settimeout(5)
            channel.exec_command(command)
            channel.recv_exit_status()
            channel.close()
        except Exception as exc:  # noqa: BLE001 - the transport is then suspect: drop it
            logger.warning("Could not kill a timed-out command on %s: %s", self.target, exc)
            session.transport.close()
        self.release(session, healthy=False)

    # -- SFTP -------------------------------------------------------------------
    def sftp(self) -> paramiko.SFTPClient:
        """The SFTP client on the live transport (call with ``sftp_lock`` held)."""
        transport, generation = self.ensure_transport()
        if self._sftp is None or self._sftp_generation != generation:
            if self._sftp is not None:
                self._sftp.close()
            try:
                client = paramiko.SFTPClient.from_transport(transport)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise SSHError(f"Cannot start SFTP on {self.target.display}: {exc}.") from None
            if client is None:
                raise SSHError(f"Cannot start SFTP on {self.target.display}.")
            channel = client.get_channel()
            if channel is not None:
                channel.settimeout(float(compute_settings.SSH_COMMAND_TIMEOUT))
            self._sftp, self._sftp_generation = client, generation
        return self._sftp

    @property
    def sftp_lock(self) -> threading.Lock:
        return self._sftp_lock

    def close(self) -> None:
        self.closed = True
        with self._pool:
            for session in self._idle:
                session.close()
            self._sessions -= len(self._idle)
            self._idle.clear()
            self._pool.notify_all()
        with self._connect_lock:
            if self._sftp is not None:
                self._sftp.close()
                self._sftp = None
            if self.transport is not None:
                self.transport.close()
                self.transport = None


def session_start_timeout() -> float:
    return float(compute_settings.SSH_CONNECT_TIMEOUT) + float(compute_settings.SSH_AUTH_TIMEOUT)


_connections: dict[tuple[str, int, str, str], Connection] = {}
_connections_lock = threading.Lock()


def connection_for(target: SSHTarget) -> Connection:
    key = target.cache_key()
    with _connections_lock:
        conn = _connections.get(key)
        if conn is None or conn.closed:
            conn = Connection(target)
            _connections[key] = conn
        return conn


def close_owner(owner: str) -> int:
    """Close the cached connections of one owner (see :attr:`SSHTarget.owner`).

    The records side calls it when a scheduler record changes or is deleted.
    Returns the number of connections closed.
    """
    if not owner:
        return 0
    with _connections_lock:
        doomed = [key for key, conn in _connections.items() if conn.target.owner == owner]
        conns = [_connections.pop(key) for key in doomed]
    for conn in conns:
        logger.info("Closing the SSH connection to %s: its owner changed", conn.target)
        conn.close()
    return len(conns)


def close_target(target: SSHTarget) -> None:
    """Close the cached connection to ``target``, if any."""
    with _connections_lock:
        conn = _connections.pop(target.cache_key(), None)
    if conn is not None:
        conn.close()


def close_connections() -> None:
    """Close every cached SSH connection of this process (at shutdown, or in tests)."""
    with _connections_lock:
        conns = list(_connections.values())
        _connections.clear()
    for conn in conns:
        conn.close()


atexit.register(close_connections)
