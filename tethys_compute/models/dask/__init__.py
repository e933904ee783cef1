"""Dask schedulers: the address of a ``dask.distributed`` scheduler."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

from django.db import models

from tethys_compute import dask_client
from tethys_compute.exceptions import (
    DaskJobException,
    DaskSchedulerConnectionError,
    DaskSchedulerTimeoutError,
    SchedulerConnectionError,
    SchedulerTimeoutError,
)
from tethys_compute.health import HealthResult
from tethys_compute.models.routes import SSHRoute
from tethys_compute.models.scheduler import Scheduler
from tethys_compute.validators import validate_dashboard, validate_dask_address

if TYPE_CHECKING:
    from distributed import Client

    from tethys_compute.ssh.target import SSHTarget

logger = logging.getLogger(__name__)


class DaskScheduler(Scheduler):
    """A ``dask.distributed`` scheduler.

    ``host`` is the scheduler's address as :class:`distributed.Client` takes
    it: ``host:port``, ``tcp://host:port`` or ``tls://host:port``.
    ``timeout`` is in **seconds** and ``heartbeat_interval`` in
    **milliseconds**, the units ``distributed.Client`` gives plain numbers;
    leave either empty (or 0) for the defaults.  ``dashboard`` is the
    dashboard's ``host:port`` or URL.

    With ``ssh_tunnel`` set, the portal reaches the scheduler through an SSH
    tunnel over that HTCondor scheduler's connection (one forwarded local
    port per process, see :mod:`tethys_compute.ssh.tunnel`), and ``host`` is
    the scheduler's address as the SSH server sees it (``127.0.0.1:8786``
    for a scheduler on the SSH server itself).

    :attr:`client` is a connected ``distributed.Client`` shared by every
    caller in the process (see :mod:`tethys_compute.dask_client` for the
    caching and closing rules); :meth:`test_connection` reports reachability,
    latency, workers and version skew.

    Examples
    --------
    >>> from tethys_sdk.compute import get_scheduler
    >>> scheduler = get_scheduler("Default")  # doctest: +SKIP
    >>> scheduler.client.submit(sum, [1, 2, 3]).result()  # doctest: +SKIP
    6
    """

    KIND: ClassVar[str] = "dask"

    timeout = models.FloatField(
        "connect timeout (seconds)",
        null=True,
        blank=True,
        help_text="Seconds to wait for the scheduler when connecting. Empty: the portal "
        "default (TETHYS_COMPUTE['DASK_CONNECT_TIMEOUT']).",
    )
    heartbeat_interval = models.PositiveIntegerField(
        "heartbeat interval (milliseconds)",
        null=True,
        blank=True,
        help_text="Milliseconds between the client's heartbeats to the scheduler. Empty: "
        "Dask's default.",
    )
    dashboard = models.CharField(
        "dashboard",
        max_length=1024,
        blank=True,
        default="",
        validators=[validate_dashboard],
        help_text="Dashboard address, e.g. localhost:8787 or http://dask.example.com:8787. "
        "Empty: asked from the scheduler.",
    )

    ssh_tunnel = models.ForeignKey(
        "tethys_compute.CondorScheduler",
        verbose_name="reach through the SSH connection of",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tunnelled_dask_schedulers",
        help_text="Reach this scheduler through an SSH tunnel over that HTCondor scheduler's "
        "connection; the host is then the address as the SSH server sees it. Empty: connect "
        "directly.",
    )

    tls_ca_file = models.CharField(
        "TLS CA file",
        max_length=1024,
        blank=True,
        default="",
        db_default="",  # rows written by raw SQL (bulk loads) get it too
        help_text="For a tls:// host: the CA certificate that signed the scheduler's "
        "certificate, a file on the portal host. Empty: TETHYS_COMPUTE['DASK_TLS_CA_FILE'].",
    )
    tls_cert_file = models.CharField(
        "TLS certificate file",
        max_length=1024,
        blank=True,
        default="",
        db_default="",
        help_text="The portal's certificate for this scheduler (with tls_key_file). Empty: "
        "TETHYS_COMPUTE['DASK_TLS_CERT_FILE'].",
    )
    tls_key_file = models.CharField(
        "TLS key file",
        max_length=1024,
        blank=True,
        default="",
        db_default="",
        help_text="The private key of that certificate, unless it is in the certificate file.",
    )

    class Meta:
        verbose_name = "Dask scheduler"
        verbose_name_plural = "Dask schedulers"

    def clean_fields(self, exclude: object = None) -> None:
        if self.dashboard is None:
            self.dashboard = ""
        super().clean_fields(exclude=exclude)  # type: ignore[arg-type]

    def clean(self) -> None:
        super().clean()
        from django.core.exceptions import ValidationError

        errors: dict[str, list[str]] = {}
        try:
            validate_dask_address(self.host)
        except ValidationError as exc:
            errors["host"] = list(exc.messages)
        if self.timeout is not None and self.timeout < 0:
            errors["timeout"] = ["The timeout is in seconds and cannot be negative."]
        if errors:
            raise ValidationError(errors)

    # ------------------------------------------------------------------
    # Connecting
    # ------------------------------------------------------------------
    def tunnel_target(self) -> SSHTarget | None:
        """The SSH target whose connection carries the client's traffic, or None."""
        via = self.ssh_tunnel if self.ssh_tunnel_id is not None else None
        if via is None:
            return None
        return via.ssh_target()  # type: ignore[no-any-return]

    def tunnel_route(self) -> SSHRoute | None:
        """How the client reaches the scheduler: through that SSH connection, or directly."""
        target = self.tunnel_target()
        return SSHRoute(target) if target is not None else None

    def tls_files(self) -> tuple[str, str, str | None] | None:
        """This record's own ``(ca, cert, key)`` files, or None for the portal's settings."""
        if not (self.tls_ca_file and self.tls_cert_file):
            return None
        return (self.tls_ca_file, self.tls_cert_file, self.tls_key_file or None)

    @property
    def client(self) -> Client:
        """The process's shared, connected ``distributed.Client`` for this scheduler.

        The first access connects within the record's ``timeout`` (seconds;
        default ``TETHYS_COMPUTE['DASK_CONNECT_TIMEOUT']``); later accesses
        return the same client without a network round trip.  Do not close
        it: other callers share it.

        Raises
        ------
        DaskSchedulerTimeoutError
            The scheduler did not answer in time (a ``SchedulerTimeoutError``,
            also a ``TimeoutError``).
        DaskSchedulerConnectionError
            It could not be reached (a ``SchedulerConnectionError``, also a
            ``ConnectionError``).

        Examples
        --------
        >>> scheduler.client.submit(pow, 2, 10).result()  # doctest: +SKIP
        1024

        Both errors are also Tethys Platform's ``DaskJobException``.
        """
        try:
            return self.get_client()
        except DaskJobException:
            raise
        except SchedulerTimeoutError as exc:
            raise DaskSchedulerTimeoutError(str(exc)) from exc
        except SchedulerConnectionError as exc:
            raise DaskSchedulerConnectionError(str(exc)) from exc

    @overload
    def get_client(self, asynchronous: Literal[False] = ..., **kw: Any) -> Client: ...

    @overload
    def get_client(self, asynchronous: Literal[True], **kw: Any) -> Coroutine[Any, Any, Client]: ...

    def get_client(
        self, asynchronous: bool = False, **kw: Any
    ) -> Client | Coroutine[Any, Any, Client]:
        """Return a ``distributed.Client`` for this scheduler.

        Parameters
        ----------
        asynchronous : bool
            False (default): the shared, cached client, usable from any
            thread.  True: a coroutine that connects a **new** asynchronous
            client on the caller's event loop; the caller owns it and closes
            it (``async with``).
        **kw
            ``timeout`` (seconds) and ``heartbeat_interval`` (milliseconds)
            override the record's values; ``cached=False`` returns a new
            synchronous client that the caller closes; anything else is passed
            to ``distributed.Client`` (and is part of the cache key).

        Returns
        -------
        distributed.Client or coroutine

        Raises
        ------
        SchedulerConnectionError, SchedulerTimeoutError
            As for :attr:`client`.
        InvalidArgumentError
            For an invalid address or keyword argument.

        Examples
        --------
        >>> client = scheduler.get_client(timeout=2)  # doctest: +SKIP
        >>> async def run(scheduler):  # doctest: +SKIP
        ...     async with await scheduler.get_client(asynchronous=True) as client:
        ...         return await client.submit(sum, [1, 2])
        """
        cached = kw.pop("cached", True)
        timeout = kw.pop("timeout", None)
        heartbeat = kw.pop("heartbeat_interval", None)
        settings: dict[str, Any] = {
            "timeout": self.timeout if timeout is None else timeout,
            "heartbeat_interval": self.heartbeat_interval if heartbeat is None else heartbeat,
            "label": self.name,
            "via": self.tunnel_route(),
            "tls": self.tls_files(),
        }
        if asynchronous:
            return dask_client.open_async_client(self.host, **settings, **kw)
        if not cached:
            return dask_client.new_client(self.host, **settings, **kw)
        return dask_client.get_client(self.host, record_id=self.pk, **settings, **kw)

    # ------------------------------------------------------------------
    # Health and dashboard
    # ------------------------------------------------------------------
    def test_connection(self) -> HealthResult:
        """Connect and report latency, workers, threads, memory and version skew.

        Bounded by ``TETHYS_COMPUTE['HEALTH_CHECK_TIMEOUT']``; never raises
        for an unreachable scheduler (the result says what failed).

        Returns
        -------
        HealthResult
            See :func:`tethys_compute.dask_client.check_scheduler`.

        Examples
        --------
        >>> result = scheduler.test_connection()  # doctest: +SKIP
        >>> result.ok, result.details["n_workers"], result.warnings  # doctest: +SKIP
        (True, 2, [])
        """
        return dask_client.check_scheduler(
            self.host,
            label=self.name,
            timeout=self.timeout,
            heartbeat_interval=self.heartbeat_interval,
            record_id=self.pk,
            via=self.tunnel_route(),
            tls=self.tls_files(),
        )

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard URL: the ``dashboard`` field, else the scheduler's own link.

        ``host:port`` in the field becomes ``http://host:port/status``; a URL
        is returned as it is.  Without the field, the link the scheduler
        reports through the (cached, or newly connected) client; None when it
        has no dashboard or cannot be reached.

        Examples
        --------
        >>> DaskScheduler(name="d", host="localhost:8786",
        ...               dashboard="localhost:8787").dashboard_link
        'http://localhost:8787/status'
        """
        if self.dashboard:
            return dask_client.dashboard_url(self.dashboard)
        try:
            client = self.client
        except SchedulerConnectionError as exc:
            logger.info("No dashboard link for %r: %s", self, exc)
            return None
        return dask_client.scheduler_dashboard_link(client)
