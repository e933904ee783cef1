"""SSH to HTCondor submit hosts: verified, reused connections and fast commands.

This module is the only place that talks SSH (with :mod:`paramiko`).  It
connects with password or key authentication, verifies the server's host key
(the portal's known_hosts file, a key pinned on the record, or, only when
allowed, trust on first use), keeps **one connection per target per process**
and runs commands through a **long-lived remote shell session** instead of
opening a new SSH channel for each command.

Why a persistent session
------------------------
On a loopback OpenSSH 9.2 server a new connection with authentication and one
command costs about 200 ms; one more ``exec_command`` on an open connection
still costs about 95 ms, because sshd sets up a new session for every channel.
A command written to a shell that is already running answers in about a
millisecond.  So each connection keeps up to ``SSH_MAX_SESSIONS`` channels,
each running a small POSIX ``/bin/sh`` loop (:data:`DRIVER`).  Each command is
sent as one line, runs in its own subshell (no ``cd``, variable or ``export``
leaks into the next command), with its stdin from a file and its stdout and
stderr captured to files; the loop then answers with a unique random marker,
the exit status, the exact byte lengths of both outputs, the bytes
themselves and the marker again.  Framing is by length, so no output can be
mistaken for the end of the answer.  A command that outlives its timeout has
its whole session killed (process group) and the session is replaced.

The remote host needs a POSIX ``/bin/sh``, ``mktemp``, ``wc`` and ``cat``
(every Linux or BSD has them) and an account whose login shell runs
``exec /bin/sh -c '...'`` (every Bourne- or csh-family shell does).

Examples
--------
>>> host = get_remote_host(scheduler)                      # doctest: +SKIP
>>> host.run(["condor_q", "-af", "ClusterId"]).stdout      # doctest: +SKIP
'12\\n'
"""

from __future__ import annotations

import atexit
import base64
import errno
import hashlib
import hmac
import io
import json
import logging
import os
import re
import secrets
import shlex
import socket
import stat
import statistics
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import (
    HostKeyMismatchError,
    RemoteCommandError,
    RemoteCommandNotFoundError,
    RemoteFileError,
    SSHAuthenticationError,
    SSHConnectionRefusedError,
    SSHError,
    SSHHostKeyError,
    SSHKeyError,
    SSHTimeoutError,
    SSHUnreachableError,
    UnknownHostKeyError,
)
from tethys_compute.health import HealthResult
from tethys_compute.remote import CommandResult

if TYPE_CHECKING:
    from tethys_compute.models import CondorScheduler

logger = logging.getLogger(__name__)

__all__ = [
    "DRIVER",
    "HostKeyInfo",
    "SSHCommandResult",
    "SSHHost",
    "SSHTarget",
    "close_connections",
    "close_target",
    "get_remote_host",
    "quote_argv",
    "scan_host_key",
    "ssh_health",
    "test_ssh",
]

#: Standard input up to this many bytes travels inside the request line;
#: larger input is uploaded over SFTP into the session's directory first.
INLINE_STDIN_LIMIT = 2048
#: Seconds the client waits beyond a command's timeout for the python loop to
#: kill the command and answer, before it kills the whole session.
PY_TIMEOUT_GRACE = 5.0
#: Keepalive interval of idle transports, in seconds.
KEEPALIVE_INTERVAL = 30
#: Connection attempts when the handshake itself fails (not for auth or host key errors).
CONNECT_ATTEMPTS = 2
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEY_TYPE_RE = re.compile(r"(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)\Z")
_SAFE_STDIN_BYTES = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ,._+:@/=-"
)

# The POSIX sh session loop.  One line, without single quotes, so that it can
# be passed as one quoted argument through any login shell.  For each request
# line ``_t MARKER MODE SCRIPT [STDIN]`` it runs SCRIPT in a subshell, stdin
# from /dev/null (n), from the printf format STDIN (p) or from the uploaded
# file $d/i (f), and answers ``MARKER STATUS`` / ``wc -c`` of both outputs /
# the outputs / ``MARKER``.
DRIVER = " ".join(
    [
        'd=$(mktemp -d "${TMPDIR:-/tmp}/tethys-ssh.XXXXXXXX") || exit 111;',
        'trap "rm -rf \\"$d\\"" 0;',
        'trap "exit 129" 1 2 13 15;',
        'NL=$(printf "\\nx"); NL=${NL%x};',
        "g=$(ps -o pgid= -p $$ 2>/dev/null); set -- $g; g=${1:-$$};",
        'printf "TETHYS-READY %s sh %s %s %s\\n" "$n" "$$" "$g" "$d";',
        "_t() {",
        'case $2 in p) printf "$4" >"$d/i"; i=$d/i;; f) i=$d/i;; *) i=/dev/null;; esac;',
        '( eval "$3" ) <"$i" >"$d/o" 2>"$d/e"; s=$?;',
        'printf "%s %s\\n" "$1" "$s";',
        '(cd "$d" && exec wc -c o e);',
        'cat "$d/o" "$d/e";',
        'printf "%s\\n" "$1";',
        "};",
        'while IFS= read -r r; do eval "$r"; done',
    ]
)

# The Python session loop, used when the host has python3 (3.6 or newer): one
# fork+exec per command and nothing else, so a command costs about a
# millisecond.  Requests are JSON lines; answers have the same framing as the
# sh loop's.  A command runs in its own session (process group) and is killed
# with it when it outlives its timeout.
PY_DRIVER = r"""
import base64, json, os, shutil, signal, subprocess, sys, tempfile, threading, time


class Watchdog(threading.Thread):
    # Kills the running command's process group at its deadline.  A thread, so
    # the main loop can block in wait() and answer as soon as the command ends.
    def __init__(self):
        threading.Thread.__init__(self, daemon=True)
        self.cond = threading.Condition()
        self.pid = self.deadline = None
        self.fired = False

    def run(self):
        with self.cond:
            while True:
                if self.pid is None:
                    self.cond.wait()
                    continue
                left = self.deadline - time.monotonic()
                if left > 0:
                    self.cond.wait(left)
                    continue
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.fired, self.pid = True, None

    def arm(self, pid, timeout):
        with self.cond:
            self.pid, self.deadline, self.fired = pid, time.monotonic() + timeout, False
            self.cond.notify()

    def disarm(self):
        with self.cond:
            self.pid = None
            return self.fired


def run(req, d, watchdog):
    argv, cwd, timeout = req["a"], req.get("c"), req.get("t")
    env = dict(os.environ)
    env.update(req.get("e") or {})
    opath, epath, ipath = os.path.join(d, "o"), os.path.join(d, "e"), os.path.join(d, "i")
    if req.get("i") is not None:
        with open(ipath, "wb") as f:
            f.write(base64.b64decode(req["i"]))
    else:
        ipath = os.devnull
    status = None
    with open(opath, "w+b") as fo, open(epath, "w+b") as fe, open(ipath, "rb") as fi:
        try:
            proc = subprocess.Popen(argv, stdin=fi, stdout=fo, stderr=fe, cwd=cwd, env=env,
                                    close_fds=True, start_new_session=True)
        except OSError as exc:
            if cwd and exc.filename == cwd:
                status, msg = 2, "cd: can't cd to %s: %s" % (cwd, exc.strerror)
            elif isinstance(exc, FileNotFoundError):
                status, msg = 127, "%s: not found" % argv[0]
            else:
                status, msg = 126, "%s: %s" % (argv[0], exc.strerror)
            fe.write(("tethys-ssh: %s\n" % msg).encode("utf-8", "surrogateescape"))
        else:
            watchdog.arm(proc.pid, float(timeout or 86400))
            status = proc.wait()
            if watchdog.disarm():
                status = "timeout"
            elif status < 0:
                status = 128 - status
        fo.seek(0)
        fe.seek(0)
        return status, fo.read(), fe.read()


def main():
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    d = tempfile.mkdtemp(prefix="tethys-ssh.", dir=os.environ.get("TMPDIR") or "/tmp")
    watchdog = Watchdog()
    watchdog.start()
    try:
        head = "TETHYS-READY %s py %d %d %s\n" % (sys.argv[1], os.getpid(), os.getpgid(0), d)
        out.write(head.encode())
        out.flush()
        while True:
            line = inp.readline()
            if not line:
                break
            req = json.loads(line.decode("utf-8"))
            status, o, e = run(req, d, watchdog)
            m = req["m"].encode()
            sizes = "%s %s\n%d o\n%d e\n%d total\n" % (req["m"], status, len(o), len(e),
                                                       len(o) + len(e))
            out.write(sizes.encode() + o + e + m + b"\n")
            out.flush()
    finally:
        shutil.rmtree(d, ignore_errors=True)


main()
"""

# What the channel runs: python3 when there is one (and the driver is "auto"),
# reading PY_DRIVER as the first line of input; otherwise the sh loop, which
# skips that line.  $1 is a nonce echoed in the READY line, $2 the driver.
BOOT = " ".join(
    [
        "n=$1;",
        'if [ "$2" = auto ] && command -v python3 >/dev/null 2>&1; then',
        "exec python3 -I -c",
        '"import sys,base64;exec(base64.b64decode(sys.stdin.buffer.readline()))"',
        '"$n";',
        "fi;",
        "IFS= read -r _;",
        DRIVER,
    ]
)
assert "'" not in BOOT  # noqa: S101 - a module invariant, see above
_PY_DRIVER_LINE = base64.b64encode(PY_DRIVER.encode()) + b"\n"
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


def _fingerprint_of_blob(blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _parse_pinned_keys(text: str, target: SSHTarget) -> list[tuple[str, bytes]]:
    """``(type, blob)`` of each key in a pinned ``host_key`` value.

    Accepts ``type base64 [comment]`` lines and known_hosts lines (host names first).
    """
    keys: list[tuple[str, bytes]] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        for i, word in enumerate(words[:-1]):
            if _KEY_TYPE_RE.match(word):
                try:
                    blob = base64.b64decode(words[i + 1], validate=True)
                except ValueError:
                    break
                keys.append((word, blob))
                break
        else:
            pass
    if not keys:
        raise SSHHostKeyError(
            f"The pinned host key of {target.display} is not a public key; set it to the "
            "host's key as 'ssh-ed25519 AAAA...' (see scan_host_key()), or clear it to use "
            "the known_hosts file."
        )
    return keys


def _algorithms_for(key_types: Iterable[str]) -> list[str]:
    """Host key algorithms that produce keys of ``key_types`` (``ssh-rsa`` -> rsa-sha2-*)."""
    algorithms: list[str] = []
    for key_type in key_types:
        if key_type == "ssh-rsa":
            algorithms += ["rsa-sha2-512", "rsa-sha2-256"]
        else:
            algorithms.append(key_type)
    return algorithms


def _prefer_host_key_types(transport: paramiko.Transport, key_types: Iterable[str]) -> None:
    """Ask first for host keys of the types we already know (as OpenSSH does)."""
    options = transport.get_security_options()
    available = list(options.key_types)
    wanted = [a for a in _algorithms_for(key_types) if a in available]
    if wanted:
        options.key_types = tuple(wanted + [a for a in available if a not in wanted])


# ----------------------------------------------------------------------------
# Connecting
# ----------------------------------------------------------------------------
def _tcp_connect(target: SSHTarget, timeout: float) -> socket.socket:
    """Open the TCP connection, mapping each failure to its SSH error."""
    where = target.display
    try:
        return socket.create_connection((target.host, target.port), timeout=timeout)
    except socket.gaierror as exc:
        raise SSHUnreachableError(
            f"Cannot reach {where}: the host name {target.host!r} does not resolve "
            f"({exc.strerror}). Check the scheduler's host."
        ) from None
    except ConnectionRefusedError:
        raise SSHConnectionRefusedError(
            f"Cannot reach {where}: connection refused on port {target.port}. Is sshd "
            "running there, and is the port right?"
        ) from None
    except TimeoutError:
        raise SSHTimeoutError(
            f"Cannot reach {where}: no answer on port {target.port} within {timeout:g} s "
            "(setting SSH_CONNECT_TIMEOUT). Check the host, the port and firewalls."
        ) from None
    except OSError as exc:
        raise SSHUnreachableError(
            f"Cannot reach {where}: {exc.strerror or exc}. Check the host, the port and "
            "the network."
        ) from None


def _load_private_key(target: SSHTarget) -> paramiko.PKey:
    """Read and decrypt the target's private key (once per connection)."""
    where = target.display
    if target.private_key:
        data = target.private_key.encode()
        source = "the scheduler's private_key"
    else:
        path = os.path.expanduser(target.private_key_path or "")
        source = f"private key file {path}"
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise SSHKeyError(
                f"Cannot log in to {where}: cannot read {source}: {exc.strerror}. Check "
                "private_key_path and that the portal's user may read the file."
            ) from None
    passphrase = target.private_key_pass.encode() if target.private_key_pass else None
    loaded = _decrypt_key(data, passphrase, source, where)
    openssh_text = loaded.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    key_class: type[paramiko.PKey]
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    elif isinstance(loaded, rsa.RSAPrivateKey):
        key_class = paramiko.RSAKey
    else:
        raise SSHKeyError(
            f"Cannot log in to {where}: {source} is a {type(loaded).__name__}; use an "
            "Ed25519, ECDSA or RSA key."
        )
    try:
        return key_class.from_private_key(io.StringIO(openssh_text))
    except (paramiko.SSHException, ValueError) as exc:
        raise SSHKeyError(f"Cannot log in to {where}: {source} is not usable: {exc}.") from None


def _decrypt_key(data: bytes, passphrase: bytes | None, source: str, where: str) -> Any:
    loaders = (serialization.load_ssh_private_key, serialization.load_pem_private_key)
    problem = "it is not a private key in OpenSSH or PEM format"
    for loader in loaders:
        for password in (passphrase, None) if passphrase else (None,):
            try:
                return loader(data, password=password)
            except TypeError as exc:
                text = str(exc).lower()
                if "not encrypted" in text and password is not None:
                    continue  # a passphrase was given for a plain key: fine
                if "encrypted" in text or "password" in text:
                    raise SSHKeyError(
                        f"Cannot log in to {where}: {source} is protected by a passphrase; "
                        "set the scheduler's private_key_pass."
                    ) from None
                problem = str(exc)
            except ValueError as exc:
                text = str(exc).lower()
                if "password" in text or "decrypt" in text or "checksum" in text:
                    raise SSHKeyError(
                        f"Cannot log in to {where}: the passphrase does not decrypt {source}. "
                        "Check the scheduler's private_key_pass."
                    ) from None
                break  # not this format; try the next loader
            except Exception as exc:  # noqa: BLE001 - e.g. UnsupportedAlgorithm
                problem = type(exc).__name__
                break
    raise SSHKeyError(f"Cannot log in to {where}: {source} is not usable: {problem}.")


def _verify_host_key(target: SSHTarget, key: paramiko.PKey) -> str:
    """Check the offered host key; return how it was trusted, or raise."""
    offered = HostKeyInfo.from_pkey(target.host, target.port, key)
    blob = key.asbytes()
    if target.host_key:
        pinned = _parse_pinned_keys(target.host_key, target)
        if any(kt == offered.key_type and kb == blob for kt, kb in pinned):
            return f"matches the scheduler's pinned host key ({offered})"
        known = ", ".join(f"{kt} key {_fingerprint_of_blob(kb)}" for kt, kb in pinned)
        raise HostKeyMismatchError(
            f"Host key of {target.display} does not match the pinned key: the server offered "
            f"{offered}, the scheduler pins {known}. Someone may be intercepting the "
            "connection, or the host was reinstalled. If the new key is right (ask the "
            "host's administrator), set the scheduler's pinned host key to: "
            f"{offered.openssh}"
        )
    path = target.known_hosts_path()
    host_keys = paramiko.HostKeys()
    if os.path.exists(path):
        try:
            host_keys.load(path)
        except OSError as exc:
            raise SSHHostKeyError(
                f"Cannot verify the host key of {target.display}: cannot read the known_hosts "
                f"file {path}: {exc.strerror} (setting SSH_KNOWN_HOSTS)."
            ) from None
    entries = host_keys.lookup(target.known_hosts_name)
    if entries:
        for known_key in entries.values():
            if known_key.get_name() == offered.key_type and known_key.asbytes() == blob:
                return f"verified with the known_hosts file {path} ({offered})"
        known = ", ".join(f"{k.get_name()} key {k.fingerprint}" for k in entries.values())
        raise HostKeyMismatchError(
            f"HOST KEY CHANGED for {target.display}: the server offered {offered}, but the "
            f"known_hosts file {path} has {known} for {target.known_hosts_name}. Someone may "
            "be intercepting the connection, or the host was reinstalled. If the new key is "
            f"right (ask the host's administrator), replace the {target.known_hosts_name} "
            f"lines of {path} with: {offered.known_hosts_line} -- or set the scheduler's "
            f"pinned host key to: {offered.openssh}"
        )
    if compute_settings.SSH_TRUST_ON_FIRST_USE:
        logger.warning(
            "Trusting the unknown host key of %s on first use: %s", target.display, offered
        )
        if target.scheduler_pk is not None:
            from tethys_compute.models import CondorScheduler

            CondorScheduler.objects.filter(pk=target.scheduler_pk).update(host_key=offered.openssh)
            return f"trusted on first use and pinned on the scheduler ({offered})"
        return f"trusted on first use, not stored: no scheduler record ({offered})"
    raise UnknownHostKeyError(
        f"Host key of {target.display} is not known: the server offered {offered}. If that "
        "is the host's real key (compare with 'ssh-keygen -lf' on the host's key, or ask its "
        f"administrator), trust it by adding this line to the known_hosts file {path}: "
        f"{offered.known_hosts_line} -- or set the scheduler's pinned host key to: "
        f"{offered.openssh}"
    )


def _known_key_types(target: SSHTarget) -> list[str]:
    if target.host_key:
        try:
            return [kt for kt, _ in _parse_pinned_keys(target.host_key, target)]
        except SSHHostKeyError:
            return []
    path = target.known_hosts_path()
    if not os.path.exists(path):
        return []
    host_keys = paramiko.HostKeys()
    try:
        host_keys.load(path)
    except OSError:
        return []
    entries = host_keys.lookup(target.known_hosts_name)
    return list(entries.keys()) if entries else []


def _start_transport(
    target: SSHTarget, prefer: Iterable[str] = ()
) -> tuple[paramiko.Transport, float]:
    """TCP connect and SSH handshake (no host key check, no auth)."""
    connect_timeout = float(compute_settings.SSH_CONNECT_TIMEOUT)
    banner_timeout = float(compute_settings.SSH_BANNER_TIMEOUT)
    started = time.monotonic()
    sock = _tcp_connect(target, connect_timeout)
    tcp_ms = (time.monotonic() - started) * 1000
    transport = paramiko.Transport(sock)
    transport.banner_timeout = banner_timeout
    transport.handshake_timeout = banner_timeout + connect_timeout
    transport.auth_timeout = float(compute_settings.SSH_AUTH_TIMEOUT)
    _prefer_host_key_types(transport, prefer)
    try:
        transport.start_client(timeout=banner_timeout + connect_timeout)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        transport.close()
        if _is_timeout(exc):
            raise SSHTimeoutError(
                f"SSH handshake with {target.display} timed out (settings "
                "SSH_BANNER_TIMEOUT, SSH_CONNECT_TIMEOUT). Is an SSH server on that port?"
            ) from None
        raise SSHError(
            f"SSH handshake with {target.display} failed: {exc or type(exc).__name__}. Is an "
            "SSH server listening on that port?"
        ) from None
    return transport, tcp_ms


def _is_timeout(exc: BaseException) -> bool:
    """True when ``exc`` (or what paramiko wrapped in it) is a timeout."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if isinstance(current, TimeoutError) or "timeout" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def _authenticate(transport: paramiko.Transport, target: SSHTarget) -> str:
    """Log in with the key and/or password; return how."""
    where = target.display
    if not target.username:
        raise SSHAuthenticationError(f"Cannot log in to {where}: the scheduler has no username.")
    failures: list[str] = []
    key_error: SSHError | None = None
    if target.private_key or target.private_key_path:
        pkey = _load_private_key(target)
        try:
            remaining = transport.auth_publickey(target.username, pkey)
        except paramiko.BadAuthenticationType as exc:
            failures.append(f"the server does not accept keys (it accepts: {exc.allowed_types})")
        except paramiko.AuthenticationException:
            key_error = SSHKeyError(
                f"Cannot log in to {where}: the server rejected the {pkey.get_name()} key "
                f"{pkey.fingerprint}. Add its public key to ~{target.username}/.ssh/"
                "authorized_keys on the host, or give the right key."
            )
            failures.append("the key was rejected")
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _auth_transport_error(target, exc) from None
        else:
            if transport.is_authenticated():
                return f"{pkey.get_name()} key {pkey.fingerprint}"
            failures.append(f"the server wants more steps ({', '.join(remaining)})")
    if target.password:
        try:
            transport.auth_password(target.username, target.password, fallback=False)
        except paramiko.BadAuthenticationType as exc:
            failures.append(
                f"the server does not accept passwords (it accepts: {exc.allowed_types})"
            )
        except paramiko.AuthenticationException:
            failures.append("the password was rejected")
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _auth_transport_error(target, exc) from None
        else:
            if transport.is_authenticated():
                return "password"
            failures.append("the server wants more steps after the password")
    elif key_error is not None:
        raise key_error
    if not failures:
        raise SSHAuthenticationError(
            f"Cannot log in to {where}: give a password, a private_key_path or a private_key."
        )
    raise SSHAuthenticationError(
        f"Cannot log in to {where} as {target.username!r}: {'; '.join(failures)}. Check the "
        "scheduler's username and credentials."
    )


def _auth_transport_error(target: SSHTarget, exc: BaseException) -> SSHError:
    if _is_timeout(exc):
        return SSHTimeoutError(
            f"Logging in to {target.display} timed out (setting SSH_AUTH_TIMEOUT)."
        )
    return SSHError(f"Logging in to {target.display} failed: {exc or type(exc).__name__}.")


def scan_host_key(host: str, port: int = 22, timeout: float | None = None) -> HostKeyInfo:
    """Fetch a server's host key without logging in, for an admin to review.

    Parameters
    ----------
    host : str
        Host name or address.
    port : int
        SSH port.
    timeout : float, optional
        Seconds for connect and handshake; default ``SSH_CONNECT_TIMEOUT``.

    Returns
    -------
    HostKeyInfo
        Its ``fingerprint`` to compare, ``known_hosts_line`` and ``openssh``
        (the pinned ``host_key`` value) to trust it.

    Examples
    --------
    >>> info = scan_host_key("condor.example.com")               # doctest: +SKIP
    >>> info.fingerprint                                          # doctest: +SKIP
    'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8'
    """
    target = SSHTarget(host=host, port=port)
    limit = float(timeout if timeout is not None else compute_settings.SSH_CONNECT_TIMEOUT)
    sock = _tcp_connect(target, limit)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = limit
    transport.handshake_timeout = limit
    try:
        transport.start_client(timeout=limit)
        return HostKeyInfo.from_pkey(host, port, transport.get_remote_server_key())
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise SSHError(f"Cannot read the host key of {target.display}: {exc}.") from None
    finally:
        transport.close()


# ----------------------------------------------------------------------------
# The remote session: one channel running DRIVER
# ----------------------------------------------------------------------------
class _SessionLost(Exception):
    """The session's channel died; ``delivered`` says whether the request was sent."""

    def __init__(self, reason: str, delivered: bool) -> None:
        super().__init__(reason)
        self.delivered = delivered


class _SessionTimeout(Exception):
    pass


def _new_marker() -> str:
    """A fresh, unguessable marker that frames one answer."""
    return "TETHYS-" + secrets.token_hex(16)


def _encode_printf(data: bytes) -> str:
    """A printf format that prints exactly ``data`` (safe bytes as is, others octal)."""
    return "".join(chr(b) if b in _SAFE_STDIN_BYTES else f"\\{b:03o}" for b in data)


def _shell_word(text: str) -> str:
    """``shlex.quote`` with newlines spelled ``$NL`` so the request stays on one line."""
    if "\0" in text:
        raise ValueError("remote arguments cannot contain NUL characters")
    return shlex.quote(text).replace("\n", "'\"$NL\"'")


def quote_argv(argv: Sequence[str]) -> str:
    """Quote each item of ``argv`` for a POSIX shell and join them with spaces.

    Examples
    --------
    >>> quote_argv(["echo", "a b", "$(x)"])
    "echo 'a b' '$(x)'"
    """
    return " ".join(shlex.quote(str(arg)) for arg in argv)


@dataclass(frozen=True)
class _Request:
    """One command: ``argv`` for the python loop, ``script`` for the sh loop."""

    argv: tuple[str, ...]
    script: str
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    stdin: bytes | None = None


class _Session:
    """One channel running the session loop; used by one thread at a time."""

    def __init__(
        self, transport: paramiko.Transport, generation: int, timeout: float, driver: str
    ) -> None:
        self.generation = generation
        self.transport = transport
        self._buffer = bytearray()
        deadline = time.monotonic() + timeout
        nonce = secrets.token_hex(8)
        self.channel = transport.open_session(timeout=timeout)
        self.channel.exec_command(
            f"exec /bin/sh -c {shlex.quote(BOOT)} tethys-ssh {nonce} {driver}"
        )
        self.channel.sendall(_PY_DRIVER_LINE)
        # A noisy login script may print first; wait for our READY line.
        while True:
            line = self._read_line(deadline, delivered=False)
            words = line.decode(errors="replace").split(" ", 5)
            if len(words) == 6 and words[0] == "TETHYS-READY" and words[1] == nonce:
                self.kind = words[2]
                self.pid, self.pgid, self.directory = int(words[3]), int(words[4]), words[5]
                break

    @property
    def usable(self) -> bool:
        return (
            self.transport.is_active()
            and not self.channel.closed
            and not self.channel.eof_received
            and not self.channel.exit_status_ready()
        )

    def _fill(self, deadline: float, delivered: bool) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _SessionTimeout()
        self.channel.settimeout(remaining)
        try:
            chunk = self.channel.recv(1 << 16)
        except TimeoutError:
            raise _SessionTimeout() from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _SessionLost(f"reading failed: {exc}", delivered) from None
        if not chunk:
            status = self.channel.exit_status if self.channel.exit_status_ready() else None
            raise _SessionLost(f"the remote shell ended (exit status {status})", delivered)
        self._buffer += chunk

    def _read_line(self, deadline: float, delivered: bool = True) -> bytes:
        start = 0
        while True:
            end = self._buffer.find(b"\n", start)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            start = len(self._buffer)
            if start > 1 << 20:
                raise _SessionLost("the remote shell sent an over-long line", delivered)
            self._fill(deadline, delivered)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        while len(self._buffer) < size:
            self._fill(deadline, True)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def request_line(self, marker: str, request: _Request, timeout: float) -> bytes:
        """The request as the session loop reads it (one line)."""
        if self.kind == "py":
            message: dict[str, Any] = {"m": marker, "a": list(request.argv), "t": timeout}
            if request.cwd:
                message["c"] = request.cwd
            if request.env:
                message["e"] = dict(request.env)
            if request.stdin:
                message["i"] = base64.b64encode(request.stdin).decode()
            return json.dumps(message).encode() + b"\n"
        words = ["_t", marker, "n", _shell_word(request.script)]
        if request.stdin and len(request.stdin) <= INLINE_STDIN_LIMIT:
            words[2] = "p"
            words.append(shlex.quote(_encode_printf(request.stdin)))
        elif request.stdin:
            words[2] = "f"  # uploaded by the caller before (needs_upload)
        return (" ".join(words) + "\n").encode()

    def needs_upload(self, request: _Request) -> bool:
        """True when the sh loop needs ``request.stdin`` uploaded to ``directory/i``."""
        return self.kind == "sh" and len(request.stdin or b"") > INLINE_STDIN_LIMIT

    def execute(self, request: _Request, deadline: float) -> tuple[int | None, bytes, bytes]:
        """Run one request; the status is None when the loop itself timed the command out."""
        marker = _new_marker()
        remaining = max(deadline - time.monotonic(), 0.001)
        line = self.request_line(marker, request, remaining)
        if self.kind == "py":
            deadline += PY_TIMEOUT_GRACE  # the loop kills the command itself first
        if not self.usable:
            raise _SessionLost("the session was closed", delivered=False)
        try:
            self.channel.settimeout(remaining)
            self.channel.sendall(line)
        except TimeoutError:
            raise _SessionTimeout() from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise _SessionLost(f"sending failed: {exc}", delivered=False) from None
        head = self._read_line(deadline).decode(errors="replace").split(" ")
        if len(head) != 2 or head[0] != marker or not (head[1].isdigit() or head[1] == "timeout"):
            raise _SessionLost(f"unexpected answer {head[:2]!r}", delivered=True)
        sizes: dict[str, int] = {}
        for _ in range(3):
            parts = self._read_line(deadline).decode(errors="replace").split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise _SessionLost(f"unexpected size line {parts!r}", delivered=True)
            sizes[parts[1]] = int(parts[0])
        if "o" not in sizes or "e" not in sizes:
            raise _SessionLost(f"unexpected sizes {sizes!r}", delivered=True)
        stdout = self._read_exact(sizes["o"], deadline)
        stderr = self._read_exact(sizes["e"], deadline)
        trailer = self._read_line(deadline).decode(errors="replace")
        if trailer != marker:
            raise _SessionLost("the answer's end marker is missing", delivered=True)
        return (int(head[1]) if head[1].isdigit() else None), stdout, stderr

    def close(self) -> None:
        try:
            self.channel.close()
        except Exception:  # noqa: BLE001 - closing a dead channel may fail; it is gone anyway
            pass


# ----------------------------------------------------------------------------
# Connections and their cache
# ----------------------------------------------------------------------------
class _Connection:
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
        self._idle: list[_Session] = []
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
        prefer = _known_key_types(target)
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                transport, self.tcp_ms = _start_transport(target, prefer)
                break
            except (SSHUnreachableError, SSHConnectionRefusedError):
                raise
            except SSHError:
                if attempt == CONNECT_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
        try:
            self.host_key_status = _verify_host_key(target, transport.get_remote_server_key())
            self.auth_method = _authenticate(transport, target)
        except BaseException:
            transport.close()
            raise
        transport.set_keepalive(KEEPALIVE_INTERVAL)
        logger.info(
            "SSH connected to %s (%s; %s)", target.display, self.auth_method, self.host_key_status
        )
        return transport

    # -- sessions -------------------------------------------------------------
    def acquire(self, deadline: float) -> _Session:
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
            timeout = max(min(deadline - time.monotonic(), _session_start_timeout()), 0.001)
            return _Session(transport, generation, timeout, self.target.driver)
        except SSHError:
            self._forget_one()
            raise
        except _SessionTimeout:
            self._forget_one()
            raise SSHTimeoutError(
                f"The remote shell on {self.target.display} did not start in time."
            ) from None
        except _SessionLost as exc:
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

    def release(self, session: _Session, healthy: bool) -> None:
        with self._pool:
            if healthy and not self.closed and session.generation == self.generation:
                self._idle.append(session)
            else:
                session.close()
                self._sessions -= 1
            self._pool.notify()

    def kill(self, session: _Session) -> None:
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


def _session_start_timeout() -> float:
    return float(compute_settings.SSH_CONNECT_TIMEOUT) + float(compute_settings.SSH_AUTH_TIMEOUT)


_connections: dict[tuple[str, int, str, str], _Connection] = {}
_connections_lock = threading.Lock()
_closer_registered = False


def _register_closer() -> None:
    global _closer_registered
    if not _closer_registered:
        from tethys_compute.signals import register_closer

        register_closer(_close_for_scheduler)
        _closer_registered = True


def _connection_for(target: SSHTarget) -> _Connection:
    key = target.cache_key()
    with _connections_lock:
        _register_closer()
        conn = _connections.get(key)
        if conn is None or conn.closed:
            conn = _Connection(target)
            _connections[key] = conn
        return conn


def _close_for_scheduler(scheduler: Any) -> None:
    """Close the cached connections of a scheduler record (it changed or was deleted)."""
    pk = getattr(scheduler, "pk", None)
    if pk is None:
        return
    with _connections_lock:
        doomed = [key for key, conn in _connections.items() if conn.target.scheduler_pk == pk]
        conns = [_connections.pop(key) for key in doomed]
    for conn in conns:
        logger.info("Closing the SSH connection to %s: the record changed", conn.target)
        conn.close()


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
        request = _Request(args, " && ".join(parts), cwd or None, env, _as_bytes(stdin))
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
        request = _Request(("/bin/sh", "-c", script), script, None, None, _as_bytes(stdin))
        return self._execute(request, timeout, check)

    def check(self, argv: Sequence[str], **kwargs: Any) -> SSHCommandResult:
        """:meth:`run` with ``check=True``."""
        return self.run(argv, check=True, **kwargs)

    def _execute(self, request: _Request, timeout: float | None, check: bool) -> SSHCommandResult:
        limit = float(timeout if timeout is not None else compute_settings.SSH_COMMAND_TIMEOUT)
        argv = request.argv
        _shell_word(request.script)  # rejects NUL early
        conn = _connection_for(self.target)
        started = time.monotonic()
        deadline = started + limit
        for attempt in (1, 2):
            session = conn.acquire(deadline)
            try:
                if session.needs_upload(request):
                    self._upload_stdin(conn, session, request.stdin or b"")
                status, out, err = session.execute(request, deadline)
            except _SessionTimeout:
                conn.kill(session)
                raise SSHTimeoutError(
                    f"Command {argv[0]!r} on {self.label} did not finish within {limit:g} s "
                    "and was killed (timeout, or setting SSH_COMMAND_TIMEOUT)."
                ) from None
            except _SessionLost as exc:
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

    def _upload_stdin(self, conn: _Connection, session: _Session, data: bytes) -> None:
        with conn.sftp_lock:
            sftp = conn.sftp()
            try:
                sftp.putfo(io.BytesIO(data), f"{session.directory}/i")
            except OSError as exc:
                raise _SessionLost(f"uploading stdin failed: {exc}", delivered=False) from None

    # -- files ------------------------------------------------------------------
    def _sftp_call(self, what: str, path: str, func: Any, *args: Any) -> Any:
        conn = _connection_for(self.target)
        with conn.sftp_lock:
            for attempt in (1, 2):
                sftp = conn.sftp()
                try:
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


def get_remote_host(scheduler: CondorScheduler) -> SSHHost:
    """The :class:`SSHHost` of a CondorScheduler record.

    Examples
    --------
    >>> host = get_remote_host(CondorScheduler.objects.get(name="Default"))  # doctest: +SKIP
    >>> host.run(["condor_version"]).ok                                       # doctest: +SKIP
    True
    """
    return SSHHost(SSHTarget.from_scheduler(scheduler))


# ----------------------------------------------------------------------------
# Health
# ----------------------------------------------------------------------------
def ssh_health(target: SSHTarget, result: HealthResult, samples: int = 5) -> SSHHost | None:
    """Add the SSH steps of a connection test to ``result``.

    Steps: ``TCP reachable``, ``SSH handshake``, ``host key``, ``authenticated``,
    ``command runs`` (``true``), then ``result.latency_ms`` is the median of
    ``samples`` round trips.  Callers (the Condor scheduler's test) continue
    with the returned host when every step passed.

    Returns
    -------
    SSHHost or None
        The connected host, or None after a failed step.
    """
    try:
        sock = _tcp_connect(target, float(compute_settings.SSH_CONNECT_TIMEOUT))
        sock.close()
        result.passed("TCP reachable", f"{target.host}:{target.port}")
    except SSHError as exc:
        result.failed("TCP reachable", str(exc))
        return None
    conn = _connection_for(target)
    try:
        conn.ensure_transport()
    except SSHHostKeyError as exc:
        result.passed("SSH handshake", "the server answered")
        result.failed("host key", str(exc))
        return None
    except SSHAuthenticationError as exc:
        result.passed("SSH handshake", "the server answered")
        result.passed("host key", conn.host_key_status)
        result.failed("authenticated", str(exc))
        return None
    except SSHError as exc:
        result.failed("SSH handshake", str(exc))
        return None
    transport = conn.transport
    server = transport.remote_version if transport is not None else ""
    result.passed("SSH handshake", server)
    if server:
        result.versions["ssh_server"] = server
    result.passed("host key", conn.host_key_status)
    result.passed("authenticated", f"as {target.username!r} with {conn.auth_method}")
    host = SSHHost(target)
    try:
        first = host.run(["true"])
        if not first.ok:
            result.failed("command runs", f"'true' exited {first.exit_status}")
            return None
        times = []
        for _ in range(max(1, samples)):
            started = time.perf_counter()
            host.run(["true"])
            times.append((time.perf_counter() - started) * 1000)
    except SSHError as exc:
        result.failed("command runs", str(exc))
        return None
    result.latency_ms = round(statistics.median(times), 2)
    result.details["ssh_round_trip_ms"] = result.latency_ms
    result.passed("command runs", f"'true' in {result.latency_ms} ms")
    return host


def test_ssh(target: SSHTarget | CondorScheduler) -> HealthResult:
    """Test an SSH target (or a CondorScheduler record) step by step.

    Returns
    -------
    HealthResult
        See :func:`ssh_health` for the steps.
    """
    if not isinstance(target, SSHTarget):
        target = SSHTarget.from_scheduler(target)
    result = HealthResult(target=f"SSH to {target.display}")
    ssh_health(target, result)
    return result.finish()


test_ssh.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
