"""Jobs: create, run and track work on any scheduler.

Modules
-------
:mod:`~tethys_compute.jobs.manager`
    :class:`~tethys_compute.jobs.manager.JobManager` (create, list, get).
:mod:`~tethys_compute.jobs.status`
    The state model and the versioned status updates.
:mod:`~tethys_compute.jobs.refresh`
    The batched refresher (one round trip per scheduler), with
    :mod:`~tethys_compute.jobs.refresh_condor` and :mod:`~tethys_compute.jobs.refresh_dask`.
:mod:`~tethys_compute.jobs.callbacks`
    Signed per-job callback URLs, the view, the Condor wrapper, Dask done callbacks
    (re-exported from :mod:`~tethys_compute.jobs.callback_tokens`,
    :mod:`~tethys_compute.jobs.pushes`, :mod:`~tethys_compute.jobs.condor_wrapper` and
    :mod:`~tethys_compute.jobs.dask_reports`).

The job records live in :mod:`tethys_compute.models.job`; apps import
everything from :mod:`tethys_sdk.jobs`.
"""

from __future__ import annotations
