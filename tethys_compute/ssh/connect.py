"""Connecting: TCP, the SSH handshake, host key verification and authentication.

Every failure leaves here as one of the SSH errors of
:mod:`tethys_compute.exceptions`, naming the target and never a secret.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import re
import socket
import time
from collections.abc import Iterable
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.views.decorators.debug import sensitive_variables

from tethys_compute.conf import compute_settings
from tethys_compute.counters import remote_calls
from tethys_compute.exceptions import (
    HostKeyMismatchError,
    SSHAuthenticationError,
    SSHConnectionRefusedError,
    SSHError,
    SSHHostKeyError,
    SSHKeyError,
    SSHTimeoutError,
    SSHUnreachableError,
    UnknownHostKeyError,
)
from tethys_compute.ssh.known_hosts import KnownHosts, load_known_hosts
from tethys_compute.ssh.target import HostKeyInfo, SSHTarget

logger = logging.getLogger(__name__)

_KEY_TYPE_RE = re.compile(r"(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)\Z")


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
def tcp_connect(target: SSHTarget, timeout: float) -> socket.socket:
    """Open the TCP connection, mapping each failure to its SSH error."""
    where = target.display
    remote_calls.add("ssh", target.address, "connections")
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


@sensitive_variables()
def load_private_key(target: SSHTarget) -> paramiko.PKey:
    """Read and decrypt the target's private key (once per connection).

    Every local here (and in what it calls) holds key material, so Django's error
    reports (the 500 page, ``AdminEmailHandler``) show none of them.
    """
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
        # The unencrypted key text is never held in a local of its own.
        return key_class.from_private_key(
            io.StringIO(
                loaded.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.OpenSSH,
                    serialization.NoEncryption(),
                ).decode()
            )
        )
    except (paramiko.SSHException, ValueError) as exc:
        raise SSHKeyError(f"Cannot log in to {where}: {source} is not usable: {exc}.") from None


@sensitive_variables()
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


def verify_host_key(target: SSHTarget, key: paramiko.PKey) -> str:
    """Check the offered host key; return how it was trusted, or raise."""
    offered = HostKeyInfo.from_pkey(target.host, target.port, key)
    blob = key.asbytes()
    path = target.known_hosts_path()
    known = _read_known_hosts(target, path)
    if known is not None and known.is_revoked(offered.key_type, blob):
        raise SSHHostKeyError(
            f"Host key of {target.display} is REVOKED: the server offered {offered}, which "
            f"an @revoked line of the known_hosts file {path} lists. It is refused whatever "
            "else trusts it. Ask the host's administrator for its current key."
        )
    if target.host_key:
        pinned = _parse_pinned_keys(target.host_key, target)
        if any(kt == offered.key_type and kb == blob for kt, kb in pinned):
            return f"matches the scheduler's pinned host key ({offered})"
        pins = ", ".join(f"{kt} key {_fingerprint_of_blob(kb)}" for kt, kb in pinned)
        raise HostKeyMismatchError(
            f"Host key of {target.display} does not match the pinned key: the server offered "
            f"{offered}, the scheduler pins {pins}. Someone may be intercepting the "
            "connection, or the host was reinstalled. If the new key is right (ask the "
            "host's administrator), set the scheduler's pinned host key to: "
            f"{offered.openssh}"
        )
    entries = known.host_keys.lookup(target.known_hosts_name) if known is not None else None
    if entries:
        for known_key in entries.values():
            if known_key.get_name() == offered.key_type and known_key.asbytes() == blob:
                return f"verified with the known_hosts file {path} ({offered})"
        listed = ", ".join(f"{k.get_name()} key {k.fingerprint}" for k in entries.values())
        raise HostKeyMismatchError(
            f"HOST KEY CHANGED for {target.display}: the server offered {offered}, but the "
            f"known_hosts file {path} has {listed} for {target.known_hosts_name}. Someone may "
            "be intercepting the connection, or the host was reinstalled. If the new key is "
            f"right (ask the host's administrator), replace the {target.known_hosts_name} "
            f"lines of {path} with: {offered.known_hosts_line} -- or set the scheduler's "
            f"pinned host key to: {offered.openssh}"
        )
    if compute_settings.SSH_TRUST_ON_FIRST_USE:
        logger.warning(
            "Trusting the unknown host key of %s on first use: %s", target.display, offered
        )
        if target.pin_host_key is not None:
            target.pin_host_key(offered.openssh)
            return f"trusted on first use and pinned on the scheduler ({offered})"
        return f"trusted on first use, not stored: no scheduler record ({offered})"
    raise UnknownHostKeyError(
        f"Host key of {target.display} is not known: the server offered {offered}. If that "
        "is the host's real key (compare with 'ssh-keygen -lf' on the host's key, or ask its "
        f"administrator), trust it by adding this line to the known_hosts file {path}: "
        f"{offered.known_hosts_line} -- or set the scheduler's pinned host key to: "
        f"{offered.openssh}"
    )


def known_key_types(target: SSHTarget) -> list[str]:
    if target.host_key:
        try:
            return [kt for kt, _ in _parse_pinned_keys(target.host_key, target)]
        except SSHHostKeyError:
            return []
    path = target.known_hosts_path()
    try:
        known = load_known_hosts(path) if os.path.exists(path) else None
    except OSError:
        return []
    entries = known.host_keys.lookup(target.known_hosts_name) if known is not None else None
    return list(entries.keys()) if entries else []


def _read_known_hosts(target: SSHTarget, path: str) -> KnownHosts | None:
    """The known_hosts file at ``path``, or ``None`` when there is none."""
    if not os.path.exists(path):
        return None
    try:
        return load_known_hosts(path)
    except OSError as exc:
        raise SSHHostKeyError(
            f"Cannot verify the host key of {target.display}: cannot read the known_hosts "
            f"file {path}: {exc.strerror} (setting SSH_KNOWN_HOSTS)."
        ) from None


def start_transport(
    target: SSHTarget, prefer: Iterable[str] = ()
) -> tuple[paramiko.Transport, float]:
    """TCP connect and SSH handshake (no host key check, no auth)."""
    connect_timeout = float(compute_settings.SSH_CONNECT_TIMEOUT)
    banner_timeout = float(compute_settings.SSH_BANNER_TIMEOUT)
    started = time.monotonic()
    sock = tcp_connect(target, connect_timeout)
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
        if is_timeout(exc):
            raise SSHTimeoutError(
                f"SSH handshake with {target.display} timed out (settings "
                "SSH_BANNER_TIMEOUT, SSH_CONNECT_TIMEOUT). Is an SSH server on that port?"
            ) from None
        raise SSHError(
            f"SSH handshake with {target.display} failed: {exc or type(exc).__name__}. Is an "
            "SSH server listening on that port?"
        ) from None
    return transport, tcp_ms


def is_timeout(exc: BaseException) -> bool:
    """True when ``exc`` (or what paramiko wrapped in it) is a timeout."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if isinstance(current, TimeoutError) or "timeout" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


@sensitive_variables()
def authenticate(transport: paramiko.Transport, target: SSHTarget) -> str:
    """Log in with the key and/or password; return how (locals hidden from error reports)."""
    where = target.display
    if not target.username:
        raise SSHAuthenticationError(f"Cannot log in to {where}: the scheduler has no username.")
    failures: list[str] = []
    key_error: SSHError | None = None
    if target.private_key or target.private_key_path:
        pkey = load_private_key(target)
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
    if is_timeout(exc):
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
    sock = tcp_connect(target, limit)
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
