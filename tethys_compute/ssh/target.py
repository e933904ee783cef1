"""Where to log in: :class:`SSHTarget`, and :class:`HostKeyInfo` for host keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import paramiko

from tethys_compute.conf import compute_settings

logger = logging.getLogger(__name__)

#: Ways to run commands on the far side: ``"auto"`` (python3 when present, else
#: sh) or ``"sh"`` (always the POSIX sh loop).
DRIVERS = ("auto", "sh")


# ----------------------------------------------------------------------------
# Targets and host keys
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SSHTarget:
    """Where and how to log in: plain values, whoever builds them.

    The records side builds one from a scheduler record (see
    :mod:`tethys_compute.models.connections`); code that has no record gives
    the values itself.

    Secrets (``password``, ``private_key``, ``private_key_pass``) never appear
    in the repr.  Give at least one of ``password``, ``private_key_path`` and
    ``private_key``.

    Parameters
    ----------
    host : str
        Host name or IP address.
    port : int
        SSH port.
    username : str
        Account to log in as.
    password : str, optional
        Password of the account.
    private_key_path : str, optional
        Private key file on this (the portal's) host.
    private_key : str, optional
        Private key text (PEM or OpenSSH format).
    private_key_pass : str, optional
        Passphrase of the private key.
    host_key : str, optional
        Pinned host key(s) ``"ssh-ed25519 AAAA..."``, one per line; when set,
        only these are accepted and known_hosts is not read.
    label : str, optional
        Name shown in messages (the scheduler's name).
    known_hosts : str, optional
        known_hosts file to use instead of the ``SSH_KNOWN_HOSTS`` setting.
    owner : str, optional
        Opaque name of whoever owns the connection (a scheduler record is
        ``"condor-scheduler:<pk>"``); :func:`tethys_compute.ssh.close_owner`
        closes every cached connection of one owner.
    pin_host_key : callable, optional
        Called with ``"<type> <base64>"`` when a host key is trusted on first
        use, to store it (the record side pins it on the scheduler); without
        it such a key is trusted but not stored.  Not part of the cache key.
    driver : {"auto", "sh"}
        How commands run on the far side: ``"auto"`` uses python3 when the host
        has it (fastest) and the POSIX sh loop otherwise; ``"sh"`` always uses
        the sh loop.
    """

    def __post_init__(self) -> None:
        if self.driver not in DRIVERS:
            raise ValueError(f"driver must be one of {DRIVERS}, not {self.driver!r}")

    host: str
    port: int = 22
    username: str = ""
    password: str | None = field(default=None, repr=False)
    private_key_path: str | None = None
    private_key: str | None = field(default=None, repr=False)
    private_key_pass: str | None = field(default=None, repr=False)
    host_key: str | None = None
    label: str = ""
    known_hosts: str | None = None
    owner: str = ""
    driver: str = "auto"
    pin_host_key: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_scheduler(cls, record: HasSSHTarget) -> SSHTarget:
        """``record.ssh_target()``: kept for callers of the old name.

        The SSH layer knows no record; a Condor scheduler builds its own target
        (:meth:`tethys_compute.models.CondorScheduler.ssh_target`).
        """
        return record.ssh_target()

    @property
    def address(self) -> str:
        """``user@host:port``."""
        user = f"{self.username}@" if self.username else ""
        return f"{user}{self.host}:{self.port}"

    @property
    def display(self) -> str:
        """How messages name the target: ``scheduler 'x' (user@host:port)``."""
        if self.label:
            return f"scheduler {self.label!r} ({self.address})"
        return self.address

    @property
    def known_hosts_name(self) -> str:
        """The host's name in known_hosts: ``host``, or ``[host]:port`` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def known_hosts_path(self) -> str:
        """The known_hosts file this target is checked against (``~`` expanded)."""
        return os.path.expanduser(self.known_hosts or compute_settings.SSH_KNOWN_HOSTS)

    def cache_key(self) -> tuple[str, int, str, str]:
        """Key of the connection cache: host, port, user and a keyed hash of the rest."""
        material = "\0".join(
            str(part)
            for part in (
                self.password,
                self.private_key_path,
                self.private_key,
                self.private_key_pass,
                self.host_key,
                self.known_hosts,
                self.label,
                self.owner,
                self.driver,
            )
        )
        digest = hmac.new(_CACHE_SALT, material.encode(), hashlib.sha256).hexdigest()
        return (self.host, self.port, self.username, digest)

    def __str__(self) -> str:
        return self.display


_CACHE_SALT = secrets.token_bytes(32)


@runtime_checkable
class HasSSHTarget(Protocol):
    """Anything that can say where to log in (a Condor scheduler record does)."""

    def ssh_target(self) -> SSHTarget: ...


def as_target(source: SSHTarget | HasSSHTarget) -> SSHTarget:
    """``source`` itself when it is an :class:`SSHTarget`, else ``source.ssh_target()``."""
    if isinstance(source, SSHTarget):
        return source
    return source.ssh_target()


@dataclass(frozen=True)
class HostKeyInfo:
    """A server's public host key, as an admin needs it to decide about trust.

    Attributes
    ----------
    host, port : str, int
        The server.
    key_type : str
        ``ssh-ed25519``, ``ecdsa-sha2-nistp256``, ``ssh-rsa``, ...
    key_base64 : str
        The key's public blob in base64.
    fingerprint : str
        ``SHA256:...`` as ``ssh-keygen -l`` prints it.
    """

    host: str
    port: int
    key_type: str
    key_base64: str
    fingerprint: str

    @classmethod
    def from_pkey(cls, host: str, port: int, key: paramiko.PKey) -> HostKeyInfo:
        return cls(host, port, key.get_name(), key.get_base64(), key.fingerprint)

    @property
    def openssh(self) -> str:
        """``"<type> <base64>"``: the value for a scheduler's pinned ``host_key``."""
        return f"{self.key_type} {self.key_base64}"

    @property
    def known_hosts_line(self) -> str:
        """The line to add to a known_hosts file (``[host]:port`` off port 22)."""
        name = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{name} {self.openssh}"

    def __str__(self) -> str:
        return f"{self.key_type} key {self.fingerprint}"
