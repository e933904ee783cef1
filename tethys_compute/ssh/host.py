""":class:`SSHHost`: the :class:`~tethys_compute.remote.RemoteHost` over SSH."""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import shlex
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import paramiko

from tethys_compute.conf import compute_settings
from tethys_compute.counters import remote_calls
from tethys_compute.exceptions import (
    RemoteCommandError,
    RemoteCommandNotFoundError,
    RemoteFileError,
    SSHError,
    SSHTimeoutError,
)
from tethys_compute.remote import CommandResult
from tethys_compute.ssh.pool import Connection, close_target, connection_for
from tethys_compute.ssh.session import (
    Request,
    Session,
    SessionLost,
    SessionTimeout,
    quote_argv,
    shell_word,
)
from tethys_compute.ssh.target import HasSSHTarget, SSHTarget, as_target

logger = logging.getLogger(__name__)

_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# ----------------------------------------------------------------------------
# The RemoteHost implementation
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SSHCommandResult(CommandResult):
    """A :class:`~tethys_compute.remote.CommandResult` that also keeps the raw bytes."""

    stdout_bytes: bytes = field(default=b"", repr=False)
    stderr_bytes: bytes = field(default=b"", repr=False)


class SSHHost:
    """Runs commands and moves files on one SSH target (a :class:`RemoteHost`).

    Every call goes through the process-wide connection of the target, so
    making many ``SSHHost`` objects for one target costs nothing.  Thread-safe.

    Parameters
    ----------
    target : SSHTarget
        Where to connect.

    Examples
    --------
    >>> host = SSHHost(SSHTarget("condor.example.com", 22, "alice", password="..."))
    >>> host.run(["echo", "hi there"]).stdout                      # doctest: +SKIP
    'hi there\\n'
    """

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self.label = target.display

    def __repr__(self) -> str:
        return f"<SSHHost {self.label}>"

    # -- commands -------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        stdin: str | bytes | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = False,
    ) -> SSHCommandResult:
        """Run a command; each item of ``argv`` arrives as one literal argument.

        Parameters
        ----------
        argv : sequence of str
            The program and its arguments (quoted here; never a shell string).
        timeout : float, optional
            Seconds before the command is killed; default ``SSH_COMMAND_TIMEOUT``.
        stdin : str or bytes, optional
            Standard input of the command (none: ``/dev/null``).
        cwd : str, optional
            Remote directory to run in (default: the account's home).
        env : mapping, optional
            Extra environment variables of the command.
        check : bool
            Raise :class:`RemoteCommandError` (or :class:`RemoteCommandNotFoundError`
            for exit status 127) unless the command exits 0.

        Returns
        -------
        SSHCommandResult
            Exit status, stdout and stderr, exactly as the command produced them.

        Raises
        ------
        SSHTimeoutError
            The command did not finish within ``timeout``.
        SSHError
            The connection failed (see the subclasses in :mod:`tethys_compute.exceptions`).
        """
        if isinstance(argv, str | bytes) or not argv:
            raise TypeError("argv must be a non-empty sequence of strings, not a shell string")
        args = tuple(str(arg) for arg in argv)
        parts: list[str] = []
        if cwd:
            parts.append(f"cd -- {shlex.quote(cwd)}")
        for name, value in (env or {}).items():
            if not _ENV_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
            parts.append(f"export {name}={shlex.quote(str(value))}")
        parts.append("exec " + quote_argv(args))
        request = Request(args, " && ".join(parts), cwd or None, env, _as_bytes(stdin))
        return self._execute(request, timeout, check)

    def run_shell(
        self,
        script: str,
        *,
        timeout: float | None = None,
        stdin: str | bytes | None = None,
        check: bool = False,
    ) -> SSHCommandResult:
        """Run a POSIX shell script as given (quote any values with :func:`quote_argv`).

        Use it to batch several commands in one round trip.  The script runs in
        a subshell in the account's home; nothing it sets survives it.
        """
        request = Request(("/bin/sh", "-c", script), script, None, None, _as_bytes(stdin))
        return self._execute(request, timeout, check)

    def check(self, argv: Sequence[str], **kwargs: Any) -> SSHCommandResult:
        """:meth:`run` with ``check=True``."""
        return self.run(argv, check=True, **kwargs)

    def _execute(self, request: Request, timeout: float | None, check: bool) -> SSHCommandResult:
        limit = float(timeout if timeout is not None else compute_settings.SSH_COMMAND_TIMEOUT)
        argv = request.argv
        shell_word(request.script)  # rejects NUL early
        started = time.monotonic()
        deadline = started + limit
        for attempt in (1, 2):
            # Fetched per attempt: a record saved meanwhile closes (and replaces) it.
            conn = connection_for(self.target)
            session = conn.acquire(deadline)
            try:
                if session.needs_upload(request):
                    self._upload_stdin(conn, session, request.stdin or b"")
                status, out, err = session.execute(request, deadline)
            except SessionTimeout:
                conn.kill(session)
                raise SSHTimeoutError(
                    f"Command {argv[0]!r} on {self.label} did not finish within {limit:g} s "
                    "and was killed (timeout, or setting SSH_COMMAND_TIMEOUT)."
                ) from None
            except SessionLost as exc:
                conn.release(session, healthy=False)
                if attempt == 1 and not exc.delivered:
                    logger.info("Session to %s was lost (%s); retrying once", self.label, exc)
                    continue
                raise SSHError(
                    f"The connection to {self.label} was lost while running {argv[0]!r} "
                    f"({exc}); the command may or may not have run."
                ) from None
            except BaseException:
                conn.release(session, healthy=False)
                raise
            conn.release(session, healthy=True)
            if status is None:
                raise SSHTimeoutError(
                    f"Command {argv[0]!r} on {self.label} did not finish within {limit:g} s "
                    "and was killed (timeout, or setting SSH_COMMAND_TIMEOUT)."
                )
            return self._result(argv, status, out, err, started, check)
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(
        self,
        argv: tuple[str, ...],
        status: int,
        out: bytes,
        err: bytes,
        started: float,
        check: bool,
    ) -> SSHCommandResult:
        result = SSHCommandResult(
            argv=argv,
            exit_status=status,
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
            duration=time.monotonic() - started,
            stdout_bytes=out,
            stderr_bytes=err,
        )
        if check:
            raise_for_status(result, self.label)
        return result

    def _upload_stdin(self, conn: Connection, session: Session, data: bytes) -> None:
        with conn.sftp_lock:
            sftp = conn.sftp()
            try:
                sftp.putfo(io.BytesIO(data), f"{session.directory}/i")
            except OSError as exc:
                raise SessionLost(f"uploading stdin failed: {exc}", delivered=False) from None

    # -- files ------------------------------------------------------------------
    def _sftp_call(self, what: str, path: str, func: Any, *args: Any) -> Any:
        conn = connection_for(self.target)
        with conn.sftp_lock:
            for attempt in (1, 2):
                sftp = conn.sftp()
                try:
                    remote_calls.add("ssh", self.target.address, "transfers")
                    return func(sftp, *args)
                except TimeoutError:
                    conn.close()
                    raise SSHTimeoutError(
                        f"{what} {path!r} on {self.label} timed out (setting SSH_COMMAND_TIMEOUT)."
                    ) from None
                except (EOFError, paramiko.SSHException) as exc:
                    if attempt == 1 and not conn.transport_active():
                        continue
                    raise SSHError(f"{what} {path!r} on {self.label} failed: {exc}.") from None
                except OSError as exc:
                    code = exc.errno or errno.EIO
                    reason = exc.strerror or os.strerror(code)
                    raise RemoteFileError(
                        code, f"{what} {path!r} on {self.label} failed: {reason}."
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def put_file(self, local_path: str, remote_path: str) -> None:
        """Copy a local file to the host (SFTP), replacing ``remote_path``."""
        self._sftp_call("Uploading to", remote_path, _sftp_put, local_path, remote_path)

    def put_bytes(self, data: bytes, remote_path: str) -> None:
        """Write ``data`` to ``remote_path`` on the host (SFTP)."""
        self._sftp_call("Writing", remote_path, _sftp_putfo, data, remote_path)

    def get_file(self, remote_path: str, local_path: str) -> None:
        """Copy ``remote_path`` from the host to ``local_path`` (SFTP)."""
        self._sftp_call("Downloading", remote_path, _sftp_get, remote_path, local_path)

    def list_dir(self, remote_path: str) -> list[str]:
        """Sorted names of the entries of a remote directory (SFTP)."""
        names: list[str] = self._sftp_call("Listing", remote_path, _sftp_listdir, remote_path)
        return sorted(names)

    def is_dir(self, remote_path: str) -> bool:
        """True when ``remote_path`` is a directory on the host (SFTP)."""
        try:
            mode = self._sftp_call("Checking", remote_path, _sftp_mode, remote_path)
        except RemoteFileError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise
        return bool(stat.S_ISDIR(mode))

    def make_temp_dir(self, prefix: str = "tethys-", parent: str | None = None) -> str:
        """Create a fresh private directory (remote ``mktemp -d``) and return its path.

        Parameters
        ----------
        prefix : str
            Start of the directory's name.
        parent : str, optional
            Where to create it; default ``$TMPDIR`` or ``/tmp`` on the host.
        """
        if "/" in prefix or not prefix.strip():
            raise ValueError("prefix must be a non-empty name without '/'")
        where = shlex.quote(parent) if parent else '"${TMPDIR:-/tmp}"'
        result = self.run_shell(
            f"exec mktemp -d {where}/{shlex.quote(prefix + 'XXXXXXXX')}", check=True
        )
        path = result.stdout.strip()
        if not path.startswith("/"):
            raise RemoteCommandError(f"mktemp on {self.label} printed {path!r}, not a path.")
        return path

    def remove_tree(self, remote_path: str) -> None:
        """Delete a remote directory and everything in it (``rm -rf``); absent is fine."""
        normalized = os.path.normpath(remote_path) if remote_path else ""
        if not normalized.startswith("/") or normalized in ("/", "//"):
            raise ValueError(f"refusing to remove {remote_path!r}: give an absolute path below /")
        self.run(["rm", "-rf", "--", normalized], check=True)

    def close(self) -> None:
        """Close this target's cached connection (other users reconnect on demand)."""
        close_target(self.target)


def _as_bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


def _sftp_put(sftp: paramiko.SFTPClient, local_path: str, remote_path: str) -> None:
    sftp.put(local_path, remote_path, confirm=True)


def _sftp_putfo(sftp: paramiko.SFTPClient, data: bytes, remote_path: str) -> None:
    sftp.putfo(io.BytesIO(data), remote_path, file_size=len(data), confirm=True)


def _sftp_get(sftp: paramiko.SFTPClient, remote_path: str, local_path: str) -> None:
    sftp.get(remote_path, local_path)


def _sftp_listdir(sftp: paramiko.SFTPClient, remote_path: str) -> list[str]:
    return sftp.listdir(remote_path)


def _sftp_mode(sftp: paramiko.SFTPClient, remote_path: str) -> int:
    return int(sftp.stat(remote_path).st_mode or 0)


def raise_for_status(result: CommandResult, label: str) -> None:
    """Raise the matching :class:`RemoteCommandError` unless ``result`` exited 0."""
    if result.ok:
        return
    tail = result.stderr.strip().splitlines()[-1:] if result.stderr.strip() else []
    detail = f": {tail[0][:300]}" if tail else ""
    if result.exit_status == 127:
        error: RemoteCommandError = RemoteCommandNotFoundError(
            f"Command {result.argv[0]!r} was not found on {label} (exit status 127){detail}. "
            "Is it installed and on the account's PATH?"
        )
    else:
        error = RemoteCommandError(
            f"Command {result.argv[0]!r} failed on {label} with exit status "
            f"{result.exit_status}{detail}."
        )
    error.result = result  # type: ignore[attr-defined]
    raise error


def get_remote_host(source: SSHTarget | HasSSHTarget) -> SSHHost:
    """The :class:`SSHHost` of a target, or of a record with ``ssh_target()``.

    A :class:`~tethys_compute.models.CondorScheduler` has ``ssh_target()``;
    this module never imports it.

    Examples
    --------
    >>> host = get_remote_host(CondorScheduler.objects.get(name="Default"))  # doctest: +SKIP
    >>> host.run(["condor_version"]).ok                                       # doctest: +SKIP
    True
    """
    return SSHHost(as_target(source))
