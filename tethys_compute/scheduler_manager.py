"""Finding and creating schedulers: the logic behind :mod:`tethys_sdk.compute`.

The module keeps the name and the functions of Tethys Platform's
``tethys_compute.scheduler_manager`` so that app code written for Tethys runs
unchanged.  Where Tethys was weak this module differs on purpose:

* :func:`list_schedulers` and :func:`get_scheduler` return the concrete kinds
  (:class:`~tethys_compute.models.CondorScheduler`,
  :class:`~tethys_compute.models.DaskScheduler`) in one SQL query.
* The ``create_*`` functions validate everything first and return the record
  **saved**; calling them again with the same name and settings returns the
  existing record, so app start-up code can call them every time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from tethys_compute.exceptions import (
    InvalidArgumentError,
    SchedulerConflictError,
    SchedulerValidationError,
    UnknownArgumentError,
)
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler, SchedulerQuerySet

logger = logging.getLogger(__name__)

#: Scheduler kinds accepted by :func:`create_scheduler`'s ``scheduler_type``/``type``.
SCHEDULER_TYPES: dict[str, type[Scheduler]] = {"condor": CondorScheduler, "dask": DaskScheduler}

_CONDOR_OPTIONS = (
    "username",
    "password",
    "private_key_path",
    "private_key_pass",
    "port",
    "private_key",
    "host_key",
    "description",
    "remote_profile",
    "condor_bin_dir",
    "condor_config",
)
_DASK_OPTIONS = ("timeout", "heartbeat_interval", "dashboard", "description")

_NUMBER = (int, float)
# Expected Python types per argument, with a description for the error message.
_ARG_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a non-empty string"),
    "host": ((str,), "a string"),
    "description": ((str,), "a string"),
    "username": ((str,), "a string"),
    "password": ((str,), "a string"),
    "private_key_path": ((str,), "a string (an absolute path)"),
    "private_key": ((str,), "a string (the key file's text)"),
    "private_key_pass": ((str,), "a string"),
    "host_key": ((str,), "a string ('ssh-ed25519 AAAA...')"),
    "port": ((int,), "a whole number from 1 to 65535"),
    "timeout": (_NUMBER, "a number of seconds"),
    "heartbeat_interval": ((int,), "a whole number of milliseconds"),
    "dashboard": ((str,), "a string such as 'localhost:8787'"),
    "remote_profile": ((str,), "a string (an absolute path on the submit host)"),
    "condor_bin_dir": ((str,), "a string (an absolute path on the submit host)"),
    "condor_config": ((str,), "a string (an absolute path on the submit host)"),
}


def list_schedulers() -> SchedulerQuerySet:
    """Return every scheduler of the portal, as its concrete kind, ordered by name.

    The result is a lazy queryset evaluated in **one** SQL query however many
    schedulers there are; it can be indexed, iterated and filtered further.

    Returns
    -------
    QuerySet
        :class:`~tethys_compute.models.CondorScheduler` and
        :class:`~tethys_compute.models.DaskScheduler` objects.

    Examples
    --------
    >>> from tethys_sdk.compute import list_schedulers
    >>> scheduler = list_schedulers()[0]                        # doctest: +SKIP
    >>> dask_only = list_schedulers().filter(daskscheduler__isnull=False)  # doctest: +SKIP
    """
    return Scheduler.objects.typed().order_by("name")


def get_scheduler(name: str) -> Scheduler | None:
    """Return the scheduler called ``name`` as its concrete kind, or ``None``.

    One indexed SQL query.  ``None`` (rather than an exception) when no
    scheduler has that name, as in Tethys Platform.

    Parameters
    ----------
    name : str
        The scheduler's unique name (surrounding spaces are ignored).

    Examples
    --------
    >>> from tethys_sdk.compute import get_scheduler
    >>> scheduler = get_scheduler('Default')                   # doctest: +SKIP
    >>> scheduler.client.submit(sum, [1, 2]).result()          # doctest: +SKIP
    3
    """
    _check_type("get_scheduler", "name", name)
    try:
        return Scheduler.objects.typed().get(name=name.strip())  # type: ignore[no-any-return]
    except Scheduler.DoesNotExist:
        return None


@sensitive_variables()  # secrets arrive as arguments: hidden from error reports
def create_scheduler(
    name: str, host: str, scheduler_type: str | None = None, **kwargs: Any
) -> Scheduler:
    """Create a scheduler of the given kind and return it saved, or find the same one.

    Parameters
    ----------
    name : str
        Unique name of the scheduler.
    host : str
        Condor: the submit host's name or IP address.  Dask: the scheduler's
        address, ``host:port``, ``tcp://host:port`` or ``tls://host:port``.
    scheduler_type : {'condor', 'dask'}, optional
        The kind, case-insensitive; default ``'condor'``.  The specification's
        spelling ``type='condor'`` is accepted too (giving both, differently,
        is an error).
    **kwargs
        The options of :func:`create_condor_scheduler` or
        :func:`create_dask_scheduler`.

    Returns
    -------
    Scheduler
        A saved :class:`~tethys_compute.models.CondorScheduler` or
        :class:`~tethys_compute.models.DaskScheduler`.

    Raises
    ------
    InvalidArgumentError
        (a ``ValueError``) for an unknown type, a wrong argument type, unknown
        keyword arguments or invalid values; nothing is saved.
    SchedulerConflictError
        (a ``ValueError``) when a scheduler with this name exists with
        different settings.

    Notes
    -----
    When a scheduler of this name already exists, it is returned if it is of
    the same kind and has the same ``host`` and the same value for every
    option given; options left out are not compared.  Otherwise nothing is
    saved and :class:`~tethys_compute.exceptions.SchedulerConflictError`
    names the fields that differ.  Names are unique without regard to case:
    ``'default'`` cannot be created beside ``'Default'``.

    Examples
    --------
    >>> from tethys_sdk.compute import create_scheduler
    >>> scheduler = create_scheduler(name='my_app_scheduler', host='example.com',
    ...     type='condor', username='root', private_key_path='/path/to/private/key')
    >>> scheduler.port
    22
    """
    spec_type = kwargs.pop("type", None)
    chosen = scheduler_type
    if spec_type is not None:
        if chosen is not None and str(chosen).lower() != str(spec_type).lower():
            raise InvalidArgumentError(
                f"create_scheduler() got scheduler_type={chosen!r} and type={spec_type!r}; "
                "give only one of them."
            )
        chosen = spec_type
    if chosen is None:
        chosen = "condor"
    if not isinstance(chosen, str) or chosen.lower() not in SCHEDULER_TYPES:
        raise InvalidArgumentError(
            f"create_scheduler(): unknown scheduler type {chosen!r}; "
            f"use one of: {', '.join(repr(t) for t in SCHEDULER_TYPES)}."
        )
    kind = chosen.lower()
    if kind == "condor":
        _check_unknown("create_scheduler", kwargs, _CONDOR_OPTIONS)
        return create_condor_scheduler(name, host, **kwargs)
    _check_unknown("create_scheduler", kwargs, _DASK_OPTIONS)
    return create_dask_scheduler(name, host, **kwargs)


@sensitive_variables()  # secrets arrive as arguments: hidden from error reports
def create_condor_scheduler(
    name: str,
    host: str,
    username: str | None = None,
    password: str | None = None,
    private_key_path: str | None = None,
    private_key_pass: str | None = None,
    *,
    port: int | None = None,
    private_key: str | None = None,
    host_key: str | None = None,
    description: str | None = None,
    remote_profile: str | None = None,
    condor_bin_dir: str | None = None,
    condor_config: str | None = None,
) -> CondorScheduler:
    """Create an HTCondor scheduler reached over SSH, or find the same one.

    Parameters
    ----------
    name : str
        Unique name of the scheduler.
    host : str
        Host name or IP address of the HTCondor submit host (no scheme, no port).
    username : str, optional
        Account on the submit host.
    password : str, optional
        Its SSH password (stored encrypted).
    private_key_path : str, optional
        Absolute path of an SSH private key file on the portal host.
    private_key_pass : str, optional
        Passphrase of the private key (stored encrypted).
    port : int, optional
        SSH port; default 22.
    private_key : str, optional
        The private key's text instead of a path (stored encrypted).
    host_key : str, optional
        The host's public key to pin (``'ssh-ed25519 AAAA...'``).
    description : str, optional
        Free text shown to portal admins.
    remote_profile, condor_bin_dir, condor_config : str, optional
        Absolute paths on the submit host: a file sourced before every HTCondor
        command, HTCondor's ``bin`` directory (put first on ``PATH``) and the
        ``CONDOR_CONFIG`` to export; for an HTCondor a non-interactive SSH
        session does not find (not in Tethys Platform).

    Returns
    -------
    CondorScheduler
        The saved record.  Arguments left out (``None``) are not compared
        against an existing record of the same name.

    Examples
    --------
    >>> from tethys_sdk.compute import create_condor_scheduler
    >>> s = create_condor_scheduler('condor_a', 'submit.example.com', 'alice',
    ...                             private_key_path='/home/portal/.ssh/id_ed25519')
    >>> (s.username, s.port)
    ('alice', 22)
    """
    given = {
        "username": username,
        "password": password,
        "private_key_path": private_key_path,
        "private_key_pass": private_key_pass,
        "port": port,
        "private_key": private_key,
        "host_key": host_key,
        "description": description,
        "remote_profile": remote_profile,
        "condor_bin_dir": condor_bin_dir,
        "condor_config": condor_config,
    }
    return _create(CondorScheduler, "create_condor_scheduler", name, host, given)  # type: ignore[return-value]


def create_dask_scheduler(
    name: str,
    host: str,
    timeout: float | None = None,
    heartbeat_interval: int | None = None,
    dashboard: str | None = None,
    *,
    description: str | None = None,
) -> DaskScheduler:
    """Create a Dask scheduler record, or find the same one.

    Parameters
    ----------
    name : str
        Unique name of the scheduler.
    host : str
        The scheduler's address: ``host:port``, ``tcp://host:port`` or
        ``tls://host:port``.
    timeout : float, optional
        Seconds to wait when connecting (``distributed.Client(timeout=...)``).
    heartbeat_interval : int, optional
        Milliseconds between client heartbeats
        (``distributed.Client(heartbeat_interval=...)``).
    dashboard : str, optional
        The dashboard's ``host:port`` or URL.
    description : str, optional
        Free text shown to portal admins.

    Returns
    -------
    DaskScheduler
        The saved record.

    Examples
    --------
    >>> from tethys_sdk.compute import create_dask_scheduler
    >>> s = create_dask_scheduler('dask_a', 'localhost:8786', timeout=30,
    ...                           heartbeat_interval=2000, dashboard='localhost:8787')
    >>> s.timeout
    30.0
    """
    given = {
        "timeout": timeout,
        "heartbeat_interval": heartbeat_interval,
        "dashboard": dashboard,
        "description": description,
    }
    return _create(DaskScheduler, "create_dask_scheduler", name, host, given)  # type: ignore[return-value]


# ----------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------
def _check_unknown(func: str, kwargs: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    unknown = set(kwargs) - set(valid)
    if unknown:
        raise UnknownArgumentError(func, unknown, ("name", "host", "type", *valid))


def _check_type(func: str, arg: str, value: Any) -> None:
    types, description = _ARG_TYPES[arg]
    if isinstance(value, bool) or not isinstance(value, types):
        shown = (
            "a secret value"
            if arg in ("password", "private_key", "private_key_pass")
            else repr(value)
        )
        raise InvalidArgumentError(
            f"{func}(): {arg} must be {description}, not {type(value).__name__} ({shown})."
        )


def _create(
    model: type[Scheduler], func: str, name: Any, host: Any, given: dict[str, Any]
) -> Scheduler:
    _check_type(func, "name", name)
    _check_type(func, "host", host)
    values = {key: value for key, value in given.items() if value is not None}
    for key, value in values.items():
        _check_type(func, key, value)
    name = name.strip()
    candidate = model(name=name, host=host.strip(), **values)
    try:
        candidate.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise SchedulerValidationError(name or "", exc.message_dict) from None

    existing = _existing(name)
    if existing is None:
        _refuse_case_variant(name)
        try:
            with transaction.atomic():
                candidate.save(force_insert=True)
        except IntegrityError:
            # Another thread or process created the same name in the meantime.
            existing = _existing(name)
            if existing is None:
                _refuse_case_variant(name)
                raise
        else:
            # Once committed: an import that is rolled back created nothing.
            transaction.on_commit(lambda: logger.info("Created %s scheduler %r", model.KIND, name))
            return candidate
    _compare(existing, model, candidate, values)
    return existing


def _existing(name: str) -> Scheduler | None:
    try:
        return Scheduler.objects.typed().get(name=name)  # type: ignore[no-any-return]
    except Scheduler.DoesNotExist:
        return None


def _refuse_case_variant(name: str) -> None:
    """Raise if a scheduler's name differs from ``name`` only in case."""
    other = (
        Scheduler.objects.filter(name__iexact=name)
        .exclude(name=name)
        .values_list("name", flat=True)
        .first()
    )
    if other is not None:
        raise SchedulerConflictError(name, ["name"], existing_name=other)


def _compare(
    existing: Scheduler, model: type[Scheduler], candidate: Scheduler, values: Mapping[str, Any]
) -> None:
    if type(existing) is not model:
        raise SchedulerConflictError(existing.name, [], kind=existing.KIND)
    differ = []
    if existing.host != candidate.host:
        differ.append("host")
    for key in values:
        if getattr(existing, key) != getattr(candidate, key):
            differ.append(key)
    if differ:
        raise SchedulerConflictError(existing.name, differ)
