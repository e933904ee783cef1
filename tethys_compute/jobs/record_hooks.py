"""Fills the job records' hooks (:mod:`tethys_compute.models.hooks`) with the services.

Imported once by :meth:`TethysComputeConfig.ready()
<tethys_compute.apps.TethysComputeConfig.ready>`: the records call these
services through the registry, so ``models/`` never imports ``jobs/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tethys_compute.jobs.dask_reports import watch_dask_future
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.running import running_already, watch_task_starts
from tethys_compute.models.hooks import register

if TYPE_CHECKING:
    from distributed import Client, Future

    from tethys_compute.models.job import DaskJob

__all__ = ["on_dask_submitted"]


def on_dask_submitted(job: DaskJob, future: Future, client: Client, ask_running: bool) -> None:
    """Watch a submitted Dask job's future; with ``ask_running``, ask once if it already runs."""
    watch_dask_future(job, future)
    if ask_running:
        # Its task may have started before it was published (the scheduler's
        # task-start event only knows published keys): ask once.
        running_already(client, job.key)


register(
    before_dask_submit=watch_task_starts,
    on_dask_submitted=on_dask_submitted,
    refresher=refresh_jobs,
)
