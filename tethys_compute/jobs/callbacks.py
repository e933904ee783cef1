"""Job callbacks, at the path they had before the split (every name is re-exported).

The push protocol (signed URLs, report fields, answers) is described in
:mod:`tethys_compute.jobs.pushes`; tokens live in
:mod:`tethys_compute.jobs.callback_tokens`, the Condor wrapper in
:mod:`tethys_compute.jobs.condor_wrapper`, Dask reports in
:mod:`tethys_compute.jobs.dask_reports`.
"""

from __future__ import annotations

from tethys_compute.jobs.callback_tokens import (
    SALT,
    CallbackRejected,
    callback_url,
    make_token,
    verify_token,
)
from tethys_compute.jobs.condor_wrapper import (
    URL_FILE,
    WRAPPER_NAME,
    WRAPPER_SCRIPT,
    transfers_output,
    wrap_condor_description,
    wrapper_files,
)
from tethys_compute.jobs.dask_reports import _push_executor, drain_pushes, watch_dask_future
from tethys_compute.jobs.pushes import (
    EXTRA_SOURCES,
    MAX_ATTEMPTS,
    MAX_BODY,
    MAX_JSON_DEPTH,
    SEQ_CLOCK_SLACK,
    PushResult,
    job_status_callback,
    record_push,
)
from tethys_compute.jobs.results import finished_well as _finished_well

__all__ = [
    "EXTRA_SOURCES",
    "MAX_ATTEMPTS",
    "MAX_BODY",
    "MAX_JSON_DEPTH",
    "SALT",
    "SEQ_CLOCK_SLACK",
    "CallbackRejected",
    "PushResult",
    "URL_FILE",
    "WRAPPER_NAME",
    "WRAPPER_SCRIPT",
    "_finished_well",
    "_push_executor",
    "callback_url",
    "drain_pushes",
    "job_status_callback",
    "make_token",
    "record_push",
    "transfers_output",
    "verify_token",
    "watch_dask_future",
    "wrap_condor_description",
    "wrapper_files",
]
