"""What a remote host looks like to the layers above SSH.

:class:`CommandResult` is the exact outcome of one command (exit status,
stdout and stderr kept apart).  :class:`RemoteHost` is the small interface the
HTCondor client and the cluster plugins program against; the SSH layer
(:mod:`tethys_compute.ssh`) implements it, and so can anything else that runs
commands and moves files (for example a local runner).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one command.

    Attributes
    ----------
    argv : tuple of str
        The command as given (before quoting).
    exit_status : int
        The exit code (127: command not found).
    stdout, stderr : str
        Everything the command printed, decoded as UTF-8 (invalid bytes replaced).
    duration : float
        Seconds from start to exit.
    """

    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@runtime_checkable
class RemoteHost(Protocol):
    """Runs commands and moves files on one host."""

    #: A label for messages, e.g. ``"scheduler 'x' (alice@host:22)"``; never a secret.
    label: str

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        stdin: str | bytes | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run ``argv`` (each item quoted for the remote shell) and return its result."""
        ...

    def put_file(self, local_path: str, remote_path: str) -> None:
        """Copy a local file to the host."""
        ...

    def put_bytes(self, data: bytes, remote_path: str) -> None:
        """Write bytes to a file on the host."""
        ...

    def get_file(self, remote_path: str, local_path: str) -> None:
        """Copy a file from the host."""
        ...

    def make_temp_dir(self, prefix: str = "tethys-") -> str:
        """Create a fresh directory on the host and return its absolute path."""
        ...

    def remove_tree(self, remote_path: str) -> None:
        """Delete a directory on the host with everything in it."""
        ...

    def list_dir(self, remote_path: str) -> list[str]:
        """Names of the entries of a directory on the host."""
        ...
