"""Pushes: jobs report their own status changes, so nobody has to poll for them.

Each run of a job gets a **signed, expiring callback URL**::

    {callback_base_url}{reverse("tethys_compute:job_callback", token)}

The token is ``django.core.signing.dumps({"j": job id, "k": callback key})``
with the salt :data:`SALT` (an HMAC-SHA256 under the portal's ``SECRET_KEY``)
and a timestamp; :func:`verify_token` accepts it for
``TETHYS_COMPUTE['JOB_CALLBACK_MAX_AGE']`` seconds.  The callback key is new
for every run (``execute()``/``resubmit()``), so the URL of an earlier run is
refused too.

A report is a ``POST`` of form fields:

``seq`` (required)
    An integer larger than any the same ``source`` sent before, and at most
    ``10 * (Unix time + one day) + 9`` (the wrapper numbers its reports
    ``10 * Unix time + n``), so nobody can jump so far ahead that the real
    reporter is locked out for long.  The largest accepted ``seq`` of each
    source is stored on the job; a report repeating one (a replay) is
    refused with HTTP 409.
``status``
    A status code or name (``running``, ``COM``...), or ``exited`` with
    ``exit_code``.
``exit_code``
    The exit status of an ``exited`` report: 0 is success.
``source``
    Who reports: ``proc-N`` for the procs of a Condor job, the node name for a
    workflow node; empty for the job itself.  A job takes reports from at most
    its number of procs (or nodes) plus :data:`EXTRA_SOURCES` sources.
``message``
    Optional text for ``status_message``.

Answers: 200 ``{"applied": true|false, "status": "RUN"}`` (false when the
report was older news than the stored status), 400 for a malformed report
(also a body over :data:`MAX_BODY` bytes or JSON nested deeper than
:data:`MAX_JSON_DEPTH`), 403 for a forged, expired or superseded token, 409
for a replay, 410 once the job has finished (Results-Ready, Complete, Error,
Aborted: a token is worth nothing after that), 405 for anything but POST.
None of these answers is logged by ``django.request`` (whose warnings name
the path, and so the token); refusals are logged here at INFO without it.

A Condor job with file transfer (``should_transfer_files = YES``) is not
finished when its executable exits: HTCondor still copies its output back.
Its ``exited`` report keeps it Running (with a message) and the refresher
records Complete or Error once HTCondor does.

Who pushes
----------
* **Condor jobs and workflow nodes** run under :data:`WRAPPER_SCRIPT`, a
  POSIX ``sh`` script uploaded with the job (``executable = /bin/sh``, the
  script and the real executable in the arguments): it reports ``running``, runs the
  real executable, reports ``exited`` with its exit code and exits with it
  (``curl`` or ``wget``; without either, the job still runs and the refresher
  finds out).  The callback URL is **not** in the arguments or the
  environment (both are in the job's ClassAd, which any user of the pool may
  read with ``condor_q -af Arguments``): it is uploaded in the file
  :data:`URL_FILE`, made readable by the submitting account only (and listed
  in ``transfer_input_files`` when HTCondor transfers files), and handed to
  ``curl`` on its standard input (``wget -i FILE``), never on a command line.
  Only mapping descriptions with list (or plain) arguments are wrapped; text
  descriptions are polled only.
* **Dask jobs** through a done callback on the future (in the process that
  submitted them; no HTTP needed), see :func:`watch_dask_future`.

Modules
-------
This module keeps the public names importable from here; the code lives in
:mod:`~tethys_compute.jobs.callback_tokens` (tokens and URLs),
:mod:`~tethys_compute.jobs.pushes` (applying a report, the view),
:mod:`~tethys_compute.jobs.condor_wrapper` (the wrapper script) and
:mod:`~tethys_compute.jobs.dask_reports` (Dask done callbacks).
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
