"""Services the job records call without importing them, filled when the app is ready.

The records layer (``models/``) never imports a service (``jobs/``): where a
record's method must start one (watching a submitted Dask future, refreshing
a job for Tethys Platform's ``update_status()``), it calls a hook of this
registry, and :mod:`tethys_compute.jobs.record_hooks` fills the registry from
:meth:`TethysComputeConfig.ready() <tethys_compute.apps.TethysComputeConfig.ready>`.
A hook called before that raises :class:`~tethys_compute.exceptions.ConfigurationError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tethys_compute.exceptions import ConfigurationError

if TYPE_CHECKING:
    from distributed import Client, Future

    from tethys_compute.models.job import DaskJob, Job

__all__ = ["RecordHooks", "hooks", "register"]


def _unset(*args: Any, **kwargs: Any) -> Any:
    raise ConfigurationError(
        "tethys-compute's job services are not registered: add 'tethys_compute' to "
        "INSTALLED_APPS and call django.setup() before using jobs."
    )


@dataclass
class RecordHooks:
    """The services a job record may start.

    Attributes
    ----------
    before_dask_submit : callable
        ``(client, timeout)``: watch the scheduler's task-start events, before
        a Dask job's work is submitted.
    on_dask_submitted : callable
        ``(job, future, client, ask_running)``: watch the published future
        (its done callback records the status); with ``ask_running``, ask once
        whether its task started before it was published.
    refresher : callable
        ``(jobs)``: refresh the given jobs from their schedulers now.
    """

    before_dask_submit: Callable[[Client, float], None] = _unset
    on_dask_submitted: Callable[[DaskJob, Future, Client, bool], None] = _unset
    refresher: Callable[[Sequence[Job]], object] = _unset


#: The registry; its fields are replaced by :func:`register`.
hooks = RecordHooks()


def register(**services: Callable[..., Any]) -> None:
    """Set hooks by name (``register(refresher=refresh_jobs)``); an unknown name is refused."""
    for name, func in services.items():
        if not hasattr(hooks, name):
            raise ConfigurationError(
                f"{name!r} is not a record hook; use one of: "
                + ", ".join(RecordHooks.__dataclass_fields__)
                + "."
            )
        setattr(hooks, name, func)
