"""Reading an OpenSSH ``known_hosts`` file, marker lines included.

paramiko's own reader stops with ``InvalidHostKey`` (not an ``SSHException``)
at a valid OpenSSH line that starts with a marker, ``@cert-authority`` or
``@revoked``, so one such line would make every connection fail.  This reader
goes line by line:

* ``@revoked <hosts> <type> <key>``: the key is refused for *every* host (a
  revoked key is never trusted, whichever name it is listed under);
* ``@cert-authority ...``: ignored with a logged note (host certificates are
  not supported: list the hosts' own keys, or pin the key on the scheduler);
* any other line paramiko cannot read: ignored with a logged note naming the
  line number (a known_hosts line never holds a secret, but the note does not
  quote it);
* every readable line goes into a :class:`paramiko.HostKeys`, hashed host
  names included.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

logger = logging.getLogger(__name__)

#: Markers OpenSSH allows at the start of a known_hosts line.
REVOKED = "@revoked"
CERT_AUTHORITY = "@cert-authority"


@dataclass
class KnownHosts:
    """The readable entries of a known_hosts file and its revoked keys."""

    path: str
    host_keys: paramiko.HostKeys = field(default_factory=paramiko.HostKeys)
    #: ``(key type, key blob)`` of every ``@revoked`` line.
    revoked: set[tuple[str, bytes]] = field(default_factory=set)
    #: Line numbers that were skipped, each with the reason.
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def is_revoked(self, key_type: str, blob: bytes) -> bool:
        """True when the key appears on an ``@revoked`` line."""
        return (key_type, blob) in self.revoked


def load_known_hosts(path: str) -> KnownHosts:
    """Read ``path`` (which must exist); an unreadable file raises ``OSError``.

    Examples
    --------
    >>> known = load_known_hosts("/etc/ssh/ssh_known_hosts")  # doctest: +SKIP
    >>> known.host_keys.lookup("[submit.example.com]:22")  # doctest: +SKIP
    """
    known = KnownHosts(path)
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                _marker_line(known, number, line)
                continue
            _plain_line(known, number, line)
    for number, reason in known.skipped:
        logger.info("known_hosts file %s, line %d ignored: %s", path, number, reason)
    return known


def _marker_line(known: KnownHosts, number: int, line: str) -> None:
    words = line.split()
    marker = words[0]
    if marker == CERT_AUTHORITY:
        known.skipped.append(
            (
                number,
                "@cert-authority lines are not supported (host certificates); list the "
                "host's own key or pin it on the scheduler",
            )
        )
        return
    if marker != REVOKED:
        known.skipped.append((number, f"unknown marker {marker[:40]!r}"))
        return
    if len(words) < 4:
        known.skipped.append((number, "@revoked needs host patterns, a key type and a key"))
        return
    key_type, key_text = words[2], words[3]
    try:
        blob = base64.b64decode(key_text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        known.skipped.append((number, "@revoked line whose key is not valid base64"))
        return
    known.revoked.add((key_type, blob))


def _plain_line(known: KnownHosts, number: int, line: str) -> None:
    try:
        entry = HostKeyEntry.from_line(line, number)
    except (InvalidHostKey, paramiko.SSHException, ValueError, TypeError) as exc:
        known.skipped.append((number, f"not a valid entry ({type(exc).__name__})"))
        return
    if entry is None or entry.key is None:
        known.skipped.append((number, "unreadable or unsupported key type"))
        return
    for name in entry.hostnames:
        known.host_keys.add(name, entry.key.get_name(), entry.key)
