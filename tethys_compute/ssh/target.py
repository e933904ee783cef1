"""Where to log in: :class:`SSHTarget`, and :class:`HostKeyInfo` for host keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import paramiko
from django.views.decorators.debug import sensitive_variables

from tethys_compute.conf import compute_settings

if TYPE_CHECKING:
    from tethys_compute.models import CondorScheduler

logger = logging.getLogger(__name__)

#: Ways to run commands on the far side: ``"auto"`` (python3 when present, else
#: sh) or ``"sh"`` (always the POSIX sh loop).
DRIVERS = ("auto", "sh")


# ----------------------------------------------------------------------------
# Targets and host keys
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SSHTarget:
    """Where and how to log in; built from a record or given explicitly.

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
    scheduler_pk : int, optional
        Primary key of the CondorScheduler record (for trust on first use and
        for closing the connection when the record changes).
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
    scheduler_pk: int | None = None
    driver: str = "auto"

    @classmethod
    @sensitive_variables()
    def from_scheduler(cls, scheduler: CondorScheduler) -> SSHTarget:
        """The target of a :class:`~tethys_compute.models.CondorScheduler` record.

        The record's secrets are decrypted here, once.
        """
        return cls(
            host=scheduler.host,
            port=int(scheduler.port or 22),
            username=scheduler.username or "",
            password=scheduler.password or None,
            private_key_path=scheduler.private_key_path or None,
            private_key=scheduler.private_key or None,
            private_key_pass=scheduler.private_key_pass or None,
            host_key=scheduler.host_key or None,
            label=scheduler.name,
            scheduler_pk=scheduler.pk,
        )

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
                self.scheduler_pk,
                self.driver,
            )
        )
        digest = hmac.new(_CACHE_SALT, material.encode(), hashlib.sha256).hexdigest()
        return (self.host, self.port, self.username, digest)

    def __str__(self) -> str:
        return self.display


_CACHE_SALT = secrets.token_bytes(32)


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
