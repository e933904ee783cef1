"""The HTCondor client: command lines and parsers, independent of the transport.

Every function takes a :class:`~tethys_compute.remote.RemoteHost` (the SSH
layer's implementation in production) and runs HTCondor's command-line tools
on it: ``condor_submit``, ``condor_submit_dag``, ``condor_q``,
``condor_history``, ``condor_rm``, ``condor_hold``, ``condor_release``,
``condor_version``, plus ``sh``, ``chmod`` and ``mkdir``.  Output is read by
exit status and machine-readable forms (``-terse``, ``-json -attributes``),
never by free text, so a stray warning cannot freeze a job's status.

Modules
-------
:mod:`~tethys_compute.condor.client`
    submit, submit_dag, job_statuses, dag_status, wait, remove, hold,
    release, fetch_outputs, clean, condor_version, schedd_ok.
:mod:`~tethys_compute.condor.batch`
    several commands in one remote round trip, framed apart.
:mod:`~tethys_compute.condor.parse`
    parsers and result types (JobInfo, JobStatus, ...).
:mod:`~tethys_compute.condor.describe`
    submit descriptions and DAG files from text, mappings or condorpy objects.

condorpy 0.7.0
--------------
Used (each path checked against condorpy 0.7.0):

* ``condorpy.Job`` as a submit description: its ``attributes`` (filled by
  ``Job(...)``, ``job.set()`` or attribute assignment), ``num_jobs`` and
  ``remote_input_files``.
* ``condorpy.Workflow`` / ``condorpy.Node`` as a DAG: ``str(workflow)`` for the
  DAG file, ``workflow.node_set`` and ``node.job.job_file`` for the nodes'
  submit files.

Routed around:

* ``Job.submit`` / ``Workflow.submit`` (local): they treat anything on stderr
  as an error, and HTCondor >= 25.13.2 prints the ``condor_watch_q`` hint on
  stderr after every successful submit.  We run ``condor_submit -terse`` and
  decide by its exit status.
* ``RemoteClient`` and the ``host=...`` arguments: port ignored in places,
  RSA keys only, no password-only login, no host key check, no timeouts,
  commands joined without quoting.  :mod:`tethys_compute.ssh` replaces it.
* ``set_cwd`` (``os.chdir`` of the whole process around every call): nothing
  here changes the local working directory.
* ``Job.wait`` / ``Workflow.wait`` (``condor_wait`` without ``-wait``: can
  block forever): :func:`wait` polls with a bound.
* ``Job.status`` / ``statuses`` / ``Workflow.node_statuses_by_cluster_id``:
  ``-format`` output scraped as text, and status 7 (suspended) is a
  ``KeyError`` (``CONDOR_JOB_STATUSES`` stops at 6, and names 6 wrongly);
  :func:`job_statuses` reads ``-json`` and knows codes 1-7.
* ``str(Job)``: drops falsy values (``0``) and writes ``job_name``; we render
  ``Job.attributes`` ourselves.
* List ``arguments`` given to ``Job.set``: joined without the new syntax's
  enclosing double quotes; pass a string (or use a mapping description, whose
  lists are quoted correctly).
* ``Node(dir=..., noop=..., done=...)``: written on a line of their own;
  refused with a clear error.
"""

from __future__ import annotations

from tethys_compute.condor.batch import run_batch
from tethys_compute.condor.client import (
    ActionResult,
    DagStatus,
    SubmitResult,
    check_condor,
    clean,
    condor_version,
    dag_status,
    fetch_outputs,
    hold,
    job_statuses,
    release,
    remove,
    schedd_ok,
    submit,
    submit_dag,
    wait,
)
from tethys_compute.condor.describe import format_arguments, render_dag, render_submit
from tethys_compute.condor.parse import (
    ActionOutcome,
    CondorVersion,
    JobInfo,
    JobStatus,
    normalize_job_id,
)

__all__ = [
    "ActionOutcome",
    "ActionResult",
    "CondorVersion",
    "DagStatus",
    "JobInfo",
    "JobStatus",
    "SubmitResult",
    "check_condor",
    "clean",
    "condor_version",
    "dag_status",
    "fetch_outputs",
    "format_arguments",
    "hold",
    "job_statuses",
    "normalize_job_id",
    "release",
    "remove",
    "render_dag",
    "render_submit",
    "run_batch",
    "schedd_ok",
    "submit",
    "submit_dag",
    "wait",
]
