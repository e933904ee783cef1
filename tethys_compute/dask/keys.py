"""Cache keys of Dask clients: a validated address and the connection settings.

Plain values only: :func:`make_key` is what a record (or any caller) hands to
the client cache; the TLS files come from ``TETHYS_COMPUTE``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from distributed.comm.addressing import parse_host_port
from distributed.security import Security
from django.core.exceptions import ValidationError

from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import (
    ConfigurationError,
    InvalidArgumentError,
)
from tethys_compute.validators import validate_dask_address

logger = logging.getLogger(__name__)


#: Keyword arguments of ``distributed.Client`` that this module sets itself.
_RESERVED_OPTIONS = frozenset(
    {"address", "loop", "asynchronous", "security", "set_as_default", "timeout"}
)

_DEFAULT_SCHEME = "tcp"


# ----------------------------------------------------------------------
# Cache keys
# ----------------------------------------------------------------------
@runtime_checkable
class Route(Protocol):
    """How a client reaches a scheduler it cannot reach directly (an SSH tunnel, say).

    The records layer builds routes (:class:`tethys_compute.models.routes.SSHRoute`);
    this package only calls them, so it never depends on how a route works.
    A route is hashable and compares equal for the same way in.
    """

    @property
    def display(self) -> str:
        """How messages name the way in (``scheduler 'x' (user@host:22)``)."""
        ...  # pragma: no cover - protocol

    def open(self, host: str, port: int) -> str:
        """A local ``host:port`` that reaches ``host:port`` on the far side (reused)."""
        ...  # pragma: no cover - protocol

    def close(self, host: str, port: int) -> None:
        """Close what :meth:`open` opened for ``host:port``."""
        ...  # pragma: no cover - protocol


@dataclass(frozen=True)
class ClientKey:
    """What makes two clients interchangeable: where and how they connect.

    Attributes
    ----------
    address : str
        The scheduler address with its scheme (``tcp://`` is added when absent).
    timeout : float
        Connect timeout in seconds (always set: the record's or the default).
    heartbeat_interval : int or None
        Milliseconds between heartbeats; None for Dask's default.
    tls_files : tuple of (str or None) or None
        ``(ca_file, cert_file, key_file)`` for ``tls://`` addresses.
    options : tuple of (str, str)
        Extra ``distributed.Client`` keyword arguments, as ``(name, repr)``.
    via : Route or None
        Reach the scheduler through this route (an SSH tunnel); ``address``
        is then the address as the far end of the route sees it.
    """

    address: str
    timeout: float
    heartbeat_interval: int | None = None
    tls_files: tuple[str | None, str | None, str | None] | None = None
    options: tuple[tuple[str, str], ...] = ()
    via: Route | None = None

    def remote_host_port(self) -> tuple[str, int]:
        """The scheduler's host and port, as the far end of a route needs them."""
        host, port = parse_host_port(self.address.split("://", 1)[1])
        return str(host), int(port)

    def security(self) -> Security | None:
        """The :class:`distributed.security.Security` for this address, or None."""
        if self.tls_files is None:
            return None
        return tls_security(*self.tls_files)


def tls_security(
    ca_file: str | None, cert_file: str | None, key_file: str | None = None
) -> Security:
    """A ``distributed`` :class:`~distributed.security.Security` for ``tls://`` addresses.

    Parameters
    ----------
    ca_file : str
        The CA certificate(s) that signed the other side's certificate.
    cert_file : str
        Our certificate (``distributed`` needs one on both sides).
    key_file : str, optional
        Our private key, when it is not in ``cert_file``.

    Returns
    -------
    distributed.security.Security
        With encryption required.

    Examples
    --------
    >>> tls_security("/etc/dask/ca.pem", "/etc/dask/portal.pem").require_encryption
    True
    """
    return Security(
        tls_ca_file=ca_file,
        tls_client_cert=cert_file,
        tls_client_key=key_file,
        require_encryption=True,
    )


def normalize_address(address: str) -> str:
    """Return ``address`` with its scheme, after validating it.

    Parameters
    ----------
    address : str
        ``host:port``, ``tcp://host:port`` or ``tls://host:port``.

    Returns
    -------
    str
        The address with a scheme, e.g. ``tcp://127.0.0.1:8786``.

    Raises
    ------
    InvalidArgumentError
        (a ``ValueError``) when the address is not a valid Dask scheduler
        address; the message says what a good one looks like.

    Examples
    --------
    >>> normalize_address("127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    >>> normalize_address("tls://dask.example.com:8786")
    'tls://dask.example.com:8786'
    """
    if not isinstance(address, str):
        raise InvalidArgumentError(
            f"A Dask scheduler address must be a string, not {type(address).__name__}."
        )
    address = address.strip()
    try:
        validate_dask_address(address)
    except ValidationError as exc:
        raise InvalidArgumentError(" ".join(exc.messages)) from None
    if "://" not in address:
        address = f"{_DEFAULT_SCHEME}://{address}"
    return address


def make_key(
    address: str,
    timeout: float | None = None,
    heartbeat_interval: int | None = None,
    via: Route | None = None,
    tls: tuple[str, str, str | None] | None = None,
    **options: Any,
) -> ClientKey:
    """Build the cache key for a scheduler address and connection settings.

    Parameters
    ----------
    address : str
        The scheduler address (validated, see :func:`normalize_address`).
    timeout : float, optional
        Connect timeout in seconds; None or 0 uses
        ``TETHYS_COMPUTE['DASK_CONNECT_TIMEOUT']``.
    heartbeat_interval : int, optional
        Milliseconds between client heartbeats; None or 0 uses Dask's default.
    via : Route, optional
        Reach the scheduler through this route (an SSH tunnel).
    tls : tuple of str, optional
        ``(ca_file, cert_file, key_file)`` of this scheduler, for a
        ``tls://`` address, instead of the ``DASK_TLS_*`` settings.
    **options
        Extra keyword arguments for ``distributed.Client``.

    Returns
    -------
    ClientKey

    Examples
    --------
    >>> key = make_key("127.0.0.1:8786", timeout=3)
    >>> (key.address, key.timeout)
    ('tcp://127.0.0.1:8786', 3.0)
    """
    address = normalize_address(address)
    reserved = _RESERVED_OPTIONS.intersection(options)
    if reserved:
        raise InvalidArgumentError(
            "These distributed.Client arguments are set by tethys-compute and cannot be "
            f"given: {', '.join(sorted(reserved))}. Set the timeout on the scheduler record "
            "or pass timeout= to get_client()."
        )
    if timeout is None or timeout == 0:
        timeout = compute_settings.DASK_CONNECT_TIMEOUT
    try:
        timeout = float(timeout)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"The Dask connect timeout must be a number of seconds, not {timeout!r}."
        ) from None
    if timeout <= 0:
        raise InvalidArgumentError(
            f"The Dask connect timeout must be a positive number of seconds, not {timeout!r}."
        )
    if heartbeat_interval is not None and heartbeat_interval <= 0:
        heartbeat_interval = None
    tls_files = None
    if address.startswith("tls://") and tls is not None:
        tls_files = tls
    elif address.startswith("tls://"):
        tls_files = (
            compute_settings.DASK_TLS_CA_FILE,
            compute_settings.DASK_TLS_CERT_FILE,
            compute_settings.DASK_TLS_KEY_FILE,
        )
        names = ("DASK_TLS_CA_FILE", "DASK_TLS_CERT_FILE")
        missing = [name for name, value in zip(names, tls_files[:2], strict=True) if not value]
        if missing:
            raise ConfigurationError(
                f"{address} is a tls:// address but TETHYS_COMPUTE[{missing[0]!r}] is not "
                "set. Set DASK_TLS_CA_FILE to the CA certificate that signed the scheduler's "
                "certificate and DASK_TLS_CERT_FILE (with DASK_TLS_KEY_FILE unless the key is "
                "in the same file) to the portal's certificate: Dask's TLS needs both."
            )
    return ClientKey(
        address=address,
        timeout=timeout,
        heartbeat_interval=heartbeat_interval,
        tls_files=tls_files,
        options=tuple(sorted((name, repr(value)) for name, value in options.items())),
        via=via,
    )
