"""Validators for scheduler fields: host names, ports, Dask addresses, key paths.

Each raises :class:`django.core.exceptions.ValidationError` with a message that
says what a good value looks like, so the same text reaches the admin form,
the command line and the Python API.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")

DASK_SCHEMES = ("tcp", "tls")

#: An account name: POSIX's portable characters, plus "@" (``user@REALM`` of
#: directory services) and letters beyond ASCII; no shell or control character.
_USERNAME_RE = re.compile(r"[^\W_.@-][\w.@-]*|_[\w.@-]*")


def is_valid_host(host: str) -> bool:
    """True for a DNS host name, an IPv4 address or an IPv6 address."""
    if not host or len(host) > 253:
        return False
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate)
        return True
    except ValueError:
        pass
    if candidate != host:
        return False
    if re.fullmatch(r"[0-9.]+", host):
        return False  # looks like a broken IPv4 address
    return bool(_HOSTNAME_RE.match(host))


def validate_ssh_host(value: str) -> None:
    """An SSH host: a host name or IP address, without scheme, user or port."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            "Enter the submit host's name or IP address, e.g. condor.example.com."
        )
    if "://" in value or "@" in value or (value.count(":") == 1):
        raise ValidationError(
            "Enter only the host name or IP address (e.g. condor.example.com); "
            "put the user in 'username' and the port in 'port'.",
            code="invalid_host",
        )
    if not is_valid_host(value):
        raise ValidationError(
            f"{value!r} is not a valid host name or IP address "
            "(e.g. condor.example.com, 10.0.0.5).",
            code="invalid_host",
        )


def is_valid_username(name: str) -> bool:
    """True for an account name a POSIX system or a directory service may have.

    Letters, digits, ``.``, ``_``, ``-`` and ``@``; not starting with ``-``,
    ``.`` or ``@``; at most 255 characters.  Nothing else: no white space,
    quote, ``;``, ``$``, ``/``, ``\\`` or control character.
    """
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and name.isprintable()
        and _USERNAME_RE.fullmatch(name) is not None
    )


def validate_ssh_username(value: str) -> None:
    """An SSH account name (see :func:`is_valid_username`)."""
    if not is_valid_username(value):
        raise ValidationError(
            f"{str(value)[:80]!r} is not a valid user name: use letters, digits, '.', '_', '-' "
            "and '@' (not first), e.g. portal or portal@EXAMPLE.ORG.",
            code="invalid_username",
        )


def validate_port(value: int) -> None:
    """A TCP port between 1 and 65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValidationError(
            f"{value!r} is not a valid port; use a whole number from 1 to 65535 (SSH uses 22).",
            code="invalid_port",
        )


def split_host_port(value: str) -> tuple[str, int | None]:
    """Split ``host:port`` (IPv6 in brackets) into its parts; the port may be absent."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError("unclosed '[' in address")
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("unexpected text after ']'")
        port_text = rest[1:] if rest else ""
    elif value.count(":") > 1:
        raise ValueError("IPv6 addresses must be written in brackets, e.g. [::1]:8786")
    elif ":" in value:
        host, port_text = value.rsplit(":", 1)
    else:
        host, port_text = value, ""
    if port_text == "":
        return host, None
    if not port_text.isdigit():
        raise ValueError(f"port {port_text!r} is not a number")
    return host, int(port_text)


def validate_dask_address(value: str) -> None:
    """A Dask scheduler address: ``host:port``, ``tcp://host:port`` or ``tls://host:port``.

    The port is required: ``distributed`` cannot connect without one.
    """
    example = "e.g. localhost:8786, tcp://10.0.0.5:8786 or tls://dask.example.com:8786"
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"Enter the Dask scheduler's address ({example}).")
    rest = value
    if "://" in value:
        scheme, rest = value.split("://", 1)
        if scheme not in DASK_SCHEMES:
            raise ValidationError(
                f"Scheme {scheme!r} is not supported; use tcp:// or tls:// ({example}).",
                code="invalid_address",
            )
    if "/" in rest or "@" in rest:
        raise ValidationError(
            f"{value!r} is not a scheduler address ({example}).", code="invalid_address"
        )
    try:
        host, port = split_host_port(rest)
    except ValueError as exc:
        raise ValidationError(
            f"{value!r} is not a scheduler address: {exc} ({example}).", code="invalid_address"
        ) from None
    if not is_valid_host(host):
        raise ValidationError(
            f"{host!r} is not a valid host name or IP address ({example}).",
            code="invalid_address",
        )
    if port is None:
        raise ValidationError(
            f"{value!r} has no port; add the scheduler's port, usually 8786 ({example}).",
            code="invalid_address",
        )
    if not 1 <= port <= 65535:
        raise ValidationError(
            f"Port {port} is out of range; use 1 to 65535 ({example}).", code="invalid_address"
        )


def validate_dashboard(value: str) -> None:
    """A Dask dashboard: ``host:port`` or an ``http(s)://`` URL."""
    example = "e.g. localhost:8787 or http://dask.example.com:8787/status"
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                f"{value!r} is not a dashboard URL; use http:// or https:// ({example}).",
                code="invalid_dashboard",
            )
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValidationError(
                f"{value!r} has an invalid port ({example}).", code="invalid_dashboard"
            ) from None
        return
    try:
        host, port = split_host_port(value)
    except ValueError as exc:
        raise ValidationError(
            f"{value!r} is not a dashboard address: {exc} ({example}).", code="invalid_dashboard"
        ) from None
    if not is_valid_host(host) or (port is not None and not 1 <= port <= 65535):
        raise ValidationError(
            f"{value!r} is not a dashboard address ({example}).", code="invalid_dashboard"
        )


def validate_absolute_path(value: str) -> None:
    """An absolute file path (``~`` is expanded first)."""
    if not os.path.isabs(os.path.expanduser(value)):
        raise ValidationError(
            f"{value!r} is a relative path; give the absolute path of the private key file "
            "(e.g. /home/portal/.ssh/id_ed25519), since the portal's working directory varies.",
            code="relative_path",
        )


def validate_remote_path(value: str) -> None:
    """An absolute POSIX path on a remote host (no ``~``: the remote home is unknown here)."""
    if not value.startswith("/") or "\n" in value or "\x00" in value:
        raise ValidationError(
            f"{value!r} is not an absolute path on the submit host; give one that starts "
            "with '/' (e.g. /opt/condor/bin), on one line.",
            code="relative_remote_path",
        )


def validate_private_key_text(value: str) -> None:
    """Text that looks like a PEM or OpenSSH private key (not a path, not a public key)."""
    text = value.strip()
    if not (text.startswith("-----BEGIN") and "PRIVATE KEY-----" in text):
        raise ValidationError(
            "This is not a private key: paste the whole key file, from '-----BEGIN ... PRIVATE "
            "KEY-----' to its END line (or use private_key_path for a key on disk).",
            code="invalid_private_key",
        )


def validate_public_host_key(value: str) -> None:
    """An OpenSSH public key line: ``<type> <base64 blob> [comment]``.

    The blob must be valid base64 and name the same key type inside (the SSH
    wire format starts with the type string), which catches truncated or
    mis-pasted keys when they are saved rather than at the first connection.
    """
    example = "e.g. 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...' (ssh-keyscan prints it)"
    parts = value.split()
    if len(parts) < 2:
        raise ValidationError(
            f"A host key is '<type> <base64 key>' on one line; {example}.",
            code="invalid_host_key",
        )
    key_type, blob_text = parts[0], parts[1]
    try:
        blob = base64.b64decode(blob_text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ValidationError(
            f"The {key_type} host key is not valid base64; paste the whole key, {example}.",
            code="invalid_host_key",
        ) from None
    if len(blob) < 4:
        raise ValidationError(f"The host key is too short; {example}.", code="invalid_host_key")
    length = int.from_bytes(blob[:4], "big")
    inner = blob[4 : 4 + length].decode("ascii", errors="replace")
    if inner != key_type:
        raise ValidationError(
            f"The key says it is {inner!r} but is labelled {key_type!r}; paste the line as "
            f"ssh-keyscan prints it, {example}.",
            code="invalid_host_key",
        )
