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
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread
import json
import logging
import re
import shlex
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.core import signing
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import csrf_exempt

from tethys_compute.conf import compute_settings
from tethys_compute.dask_client import scheduler_call
from tethys_compute.document_limits import DocumentLimitError, check_json_nesting
from tethys_compute.exceptions import ConfigurationError, InvalidArgumentError
from tethys_compute.jobs.status import (
    FINISHED_STATUSES,
    JobStatus,
    apply_status,
    can_transition,
    parse_status,
)

if TYPE_CHECKING:
    from distributed import Future

    from tethys_compute.models.job import Job

logger = logging.getLogger(__name__)

__all__ = [
    "SALT",
    "CallbackRejected",
    "PushResult",
    "URL_FILE",
    "WRAPPER_NAME",
    "callback_url",
    "job_status_callback",
    "make_token",
    "record_push",
    "verify_token",
    "watch_dask_future",
    "wrap_condor_description",
    "wrapper_files",
]

#: Salt of the callback tokens (keeps them apart from every other signed value).
SALT = "tethys_compute.jobs.callback"
#: File name of the wrapper uploaded with Condor jobs.
WRAPPER_NAME = "tethys_job_wrapper.sh"
#: File name of the callback URL uploaded next to the wrapper (mode 0600).
URL_FILE = "tethys_job_callback"
#: How far ahead of the portal's clock a ``seq`` may be, in seconds (the
#: wrapper numbers its reports ``10 * unix time + n``).
SEQ_CLOCK_SLACK = 24 * 3600
#: Largest body of a report, in bytes, and deepest JSON nesting accepted.
MAX_BODY = 16_384
MAX_JSON_DEPTH = 4
#: Distinct ``source`` names accepted beyond the job's own procs or nodes.
EXTRA_SOURCES = 8
#: Largest ``source`` name accepted.
_SOURCE = re.compile(r"^[A-Za-z0-9_.-]{0,255}$")
#: How often a push re-reads the job after losing a race.
MAX_ATTEMPTS = 8

WRAPPER_SCRIPT = """#!/bin/sh
# tethys-compute job wrapper: report "running", run the job, report its exit code.
# Usage: sh tethys_job_wrapper.sh SOURCE EXECUTABLE [ARGUMENT...]
# The callback URL is read from the file tethys_job_callback next to this script, so
# it never appears in the job's arguments, environment or a process listing.
source=$1
shift
url_file=tethys_job_callback
report() {
    [ -r "$url_file" ] || return 0
    seq=$(( $(date +%s) * 10 + $1 ))
    data="source=$source&seq=$seq&status=$2&exit_code=$3"
    if command -v curl >/dev/null 2>&1; then
        # The URL goes to curl on its standard input (a config line), not as an argument.
        printf 'url = "%s"\\n' "$(cat "$url_file")" |
            curl -fsS -m 10 --retry 2 -o /dev/null --data "$data" -K - >/dev/null 2>&1
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 10 -t 2 -O /dev/null --post-data "$data" -i "$url_file" >/dev/null 2>&1
    fi
    return 0
}
exe=$1
shift
case $exe in
    */*) ;;
    *) if [ -f "$exe" ]; then chmod u+x "$exe" 2>/dev/null; exe="./$exe"; fi ;;
esac
report 1 running ""
"$exe" "$@"
rc=$?
report 2 exited "$rc"
exit "$rc"
"""


# --------------------------------------------------------------------------
# Tokens and URLs
# --------------------------------------------------------------------------
class CallbackRejected(Exception):
    """A report was refused; ``http_status`` says how (400, 403, 409, 410)."""

    def __init__(self, message: str, http_status: int) -> None:
        super().__init__(message)
        self.http_status = http_status


def make_token(job: Job) -> str:
    """The signed token of ``job``'s current run (needs ``callback_key``)."""
    if not job.callback_key:
        raise InvalidArgumentError(f"Job {job.pk} has no callback key; execute() it first.")
    return signing.dumps({"j": job.pk, "k": job.callback_key}, salt=SALT, compress=False)


def verify_token(token: str, max_age: float | None = None) -> tuple[int, str]:
    """Check a token's signature and age; return ``(job id, callback key)``.

    Raises
    ------
    CallbackRejected
        403 for a forged or expired token.
    """
    age = float(compute_settings.JOB_CALLBACK_MAX_AGE) if max_age is None else max_age
    try:
        data = signing.loads(token, salt=SALT, max_age=timedelta(seconds=age))
    except signing.SignatureExpired:
        raise CallbackRejected("The callback token has expired.", 403)
    except signing.BadSignature:
        raise CallbackRejected("The callback token is not valid.", 403)
    if not isinstance(data, dict) or not isinstance(data.get("j"), int) or "k" not in data:
        raise CallbackRejected("The callback token is not valid.", 403)
    return int(data["j"]), str(data["k"])


def callback_url(job: Job) -> str | None:
    """The callback URL of ``job``'s current run; None without ``callback_base_url``.

    Raises
    ------
    ConfigurationError
        When the portal does not include ``tethys_compute.urls``.
    """
    if not job.callback_base_url or not job.callback_key:
        return None
    try:
        path = reverse("tethys_compute:job_callback", kwargs={"token": make_token(job)})
    except NoReverseMatch:
        raise ConfigurationError(
            "Jobs have a callback_base_url but the portal's URLconf does not include the "
            'callback view: add path("compute/", include("tethys_compute.urls")) to it.'
        )
    return job.callback_base_url.rstrip("/") + path


# --------------------------------------------------------------------------
# Applying a report
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class PushResult:
    """What a report did: ``applied`` (the status changed) and the status after it."""

    applied: bool
    status: str


def _finished_well(job: Job) -> str:
    return JobStatus.RESULTS_READY if job.needs_results_processing() else JobStatus.COMPLETE


def transfers_output(description: Any) -> bool:
    """True when HTCondor copies the job's output back after it exits (file transfer on)."""
    if not isinstance(description, Mapping):
        return False
    for key, value in description.items():
        if str(key).lower() == "should_transfer_files":
            return str(value).upper() in ("YES", "IF_NEEDED")
    return False


def _transferring(job: Job, source: str) -> bool:
    if job.KIND == "condorworkflow":
        from tethys_compute.models.job import CondorWorkflowNode

        node = CondorWorkflowNode.objects.filter(workflow_id=job.pk, name=source).first()
        return node is not None and transfers_output(node.submit_description)
    return transfers_output(getattr(job, "submit_description", None))


def _target(job: Job, current: str, exits: Mapping[str, int], report: Mapping[str, Any]) -> str:
    """The status a report means for the job as a whole."""
    status = report["status"]
    if status != "exited":
        return parse_status(status).value
    if _transferring(job, report["source"]):
        # The output is still on its way back: HTCondor (the refresher) says when it is done.
        return JobStatus.RUNNING if current == JobStatus.SUBMITTED else current
    if job.KIND == "condorworkflow":
        from tethys_compute.models.job import CondorWorkflowNode

        total = CondorWorkflowNode.objects.filter(workflow_id=job.pk).count()
        if len(exits) < total:
            return JobStatus.VARIOUS if current != JobStatus.SUBMITTED else JobStatus.RUNNING
    else:
        total = max(int(getattr(job, "num_jobs", 1) or 1), 1)
        if len(exits) < total:
            return JobStatus.VARIOUS
    if any(code != 0 for code in exits.values()):
        return JobStatus.ERROR
    return _finished_well(job)


def _max_seq() -> int:
    return 10 * (int(time.time()) + SEQ_CLOCK_SLACK) + 9


def _clean_seq(value: Any) -> int:
    text = str(value if value is not None else "").strip()
    if not re.fullmatch(r"[0-9]{1,20}", text):
        raise CallbackRejected("'seq' must be a positive integer of at most 20 digits.", 400)
    seq = int(text)
    if seq < 1:
        raise CallbackRejected("'seq' must be at least 1.", 400)
    if seq > _max_seq():
        raise CallbackRejected(
            "'seq' is too large: at most 10 x (the Unix time + one day) + 9.", 400
        )
    return seq


def _clean_report(data: Mapping[str, Any]) -> dict[str, Any]:
    seq = _clean_seq(data.get("seq"))
    source = str(data.get("source") or "").strip()
    if not _SOURCE.match(source):
        raise CallbackRejected("'source' must be letters, digits, '_', '-' or '.'.", 400)
    status = str(data.get("status") or "").strip()[:64]
    exit_code: int | None = None
    raw = data.get("exit_code")
    raw_exit = "" if raw is None else str(raw).strip()
    if raw_exit:
        if not re.fullmatch(r"-?[0-9]{1,10}", raw_exit):
            raise CallbackRejected("'exit_code' must be an integer.", 400)
        exit_code = int(raw_exit)
    if status.lower() == "exited" or (not status and exit_code is not None):
        if exit_code is None:
            raise CallbackRejected("An 'exited' report needs 'exit_code'.", 400)
        status = "exited"
    else:
        try:
            status = parse_status(status).value
        except InvalidArgumentError as exc:
            raise CallbackRejected(str(exc)[:300], 400)
    message = str(data.get("message") or "")[:2000]
    return {
        "seq": seq,
        "source": source,
        "status": status,
        "exit_code": exit_code,
        "message": message,
    }


def _source_limit(job: Job) -> int:
    """How many distinct ``source`` names may report to ``job``: its procs or nodes, and a few."""
    if job.KIND == "condorworkflow":
        from tethys_compute.models.job import CondorWorkflowNode

        own = CondorWorkflowNode.objects.filter(workflow_id=job.pk).count()
    else:
        own = int(getattr(job, "num_jobs", 1) or 1)
    return max(own, 1) + EXTRA_SOURCES


def _update_node(job: Job, report: Mapping[str, Any]) -> None:
    from django.utils import timezone

    from tethys_compute.models.job import CondorWorkflowNode

    if job.KIND != "condorworkflow" or not report["source"]:
        return
    status = report["status"]
    exit_code = report["exit_code"]
    if status == "exited":
        status = JobStatus.COMPLETE if exit_code == 0 else JobStatus.ERROR
    CondorWorkflowNode.objects.filter(workflow_id=job.pk, name=report["source"]).update(
        status_code=status,
        exit_code=exit_code,
        updated_at=timezone.now(),
        status_message=f"exit code {exit_code}" if exit_code else "",
    )


def record_push(job_id: int, key: str, data: Mapping[str, Any]) -> PushResult:
    """Apply one report to job ``job_id`` (run ``key``): replay-checked, versioned.

    Parameters
    ----------
    job_id : int
    key : str
        The callback key the report was made for (from its token).
    data : mapping
        The report's fields (see the module notes).

    Returns
    -------
    PushResult

    Raises
    ------
    CallbackRejected
        400 for a malformed report, 403 for a job that is gone or a key of an
        earlier run, 409 for a replayed ``seq``, 410 for a job that has
        finished (Results-Ready, Complete, Error or Aborted).
    """
    from tethys_compute.models.job import Job

    report = _clean_report(data)
    source, seq = report["source"], report["seq"]
    for _ in range(MAX_ATTEMPTS):
        try:
            job = Job.objects.get_subclass(pk=job_id)
        except Job.DoesNotExist:
            raise CallbackRejected("The job no longer exists.", 403)
        if not job.callback_key or job.callback_key != key:
            raise CallbackRejected("The callback URL belongs to an earlier run of the job.", 403)
        if job.status_code in FINISHED_STATUSES:
            raise CallbackRejected(
                "The job has finished; its callback URL takes no more reports.", 410
            )
        stored = job.callback_seqs or {}
        seqs = dict(stored.get("seq", {}))
        exits = dict(stored.get("exit", {}))
        if source not in seqs and len(seqs) >= _source_limit(job):
            raise CallbackRejected(
                f"Too many sources report to this job (at most {_source_limit(job)}).", 400
            )
        if seq <= int(seqs.get(source, 0)):
            raise CallbackRejected(
                f"Job {job_id} ({job.name!r}): report {seq} of {source or 'the job'!r} was "
                "already seen (a replay, or an older report); nothing changed.",
                409,
            )
        seqs[source] = seq
        if report["status"] == "exited":
            exits[source or "job"] = int(report["exit_code"])
        new_seqs = {"seq": seqs, "exit": exits}
        version = job.status_version
        current = job.status_code
        target = _target(job, current, exits, report)
        if current == JobStatus.PENDING and target != JobStatus.SUBMITTED:
            # The job reports before execute() recorded the submission: it was submitted.
            apply_status(job, JobStatus.SUBMITTED, expected_version=version)
            continue
        message = report["message"] or None
        if report["status"] == "exited" and target not in FINISHED_STATUSES:
            message = message or (
                f"{report['source'] or 'The job'} exited with code {report['exit_code']}; "
                "HTCondor is transferring the output."
            )
        if target == JobStatus.ERROR and message is None:
            failed = {s: c for s, c in exits.items() if c != 0}
            message = "Exit code " + ", ".join(f"{c} ({s})" for s, c in failed.items())
        if target != current and can_transition(current, target):
            change = apply_status(
                job,
                target,
                message=message,
                expected_version=version,
                fields={"callback_seqs": new_seqs},
            )
            if change.applied:
                _update_node(job, report)
                return PushResult(True, change.status)
            continue
        # No change, or older news than the stored status: record the seq (and a
        # message about the present status).
        extra = {"status_message": message} if message and target == current else {}
        if Job.objects.filter(pk=job_id, status_version=version).update(
            callback_seqs=new_seqs, status_version=version + 1, **extra
        ):
            _update_node(job, report)
            return PushResult(False, current)
    raise CallbackRejected("The job kept changing; send the report again.", 409)


def _answer(payload: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(payload, status=status)
    # django.request would log the path, which holds the token, for every 4xx/5xx
    # answer; the view logs its refusals itself, without the token.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _report_data(request: HttpRequest) -> Mapping[str, Any]:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY:
        raise CallbackRejected(f"A report must be at most {MAX_BODY} bytes.", 400)
    if request.content_type != "application/json":
        return request.POST
    try:
        text = (request.body or b"{}").decode("utf-8")
        check_json_nesting(text, MAX_JSON_DEPTH)
        data = json.loads(text)
    except DocumentLimitError:
        raise CallbackRejected("The JSON body nests too deeply; send one flat object.", 400)
    except ValueError:  # also UnicodeDecodeError
        raise CallbackRejected("The body is not valid JSON.", 400)
    if not isinstance(data, dict):
        raise CallbackRejected("The body must be a JSON object.", 400)
    return data


@csrf_exempt
def job_status_callback(request: HttpRequest, token: str) -> HttpResponse:
    """The callback view: ``POST`` a report to a job's signed URL (see the module notes).

    Its answers are never logged by ``django.request`` (the path holds the
    token); refusals are logged by this module at INFO, without the token.
    """
    if request.method != "POST":
        response = _answer({"error": "POST a report to this URL."}, status=405)
        response["Allow"] = "POST"
        return response
    try:
        job_id, key = verify_token(token)
        result = record_push(job_id, key, _report_data(request))
    except CallbackRejected as exc:
        logger.info("Job callback refused (%s): %s", exc.http_status, exc)
        return _answer({"error": str(exc)}, status=exc.http_status)
    except Exception as exc:  # noqa: BLE001 - a 500 must not log the path (the token)
        logger.error("Job callback failed: %s", type(exc).__name__, exc_info=True)
        return _answer({"error": "The report could not be recorded; send it again."}, 500)
    return _answer({"applied": result.applied, "status": result.status})


# --------------------------------------------------------------------------
# Condor: the wrapper
# --------------------------------------------------------------------------
def wrapper_files(url: str) -> dict[str, bytes]:
    """The files to upload with a wrapped job: the wrapper and the callback URL.

    ``{WRAPPER_NAME: script, URL_FILE: url}``; upload :data:`URL_FILE`
    readable by its owner only (``private_files`` of
    :func:`~tethys_compute.condor.submit`).
    """
    return {WRAPPER_NAME: WRAPPER_SCRIPT.encode("ascii"), URL_FILE: url.encode("ascii")}


def _split_arguments(value: Any) -> list[str] | None:
    """Arguments as a list when they can be read safely (a list, or plain words)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, str) and not re.search(r"[\"'\\$]", value):
        return shlex.split(value)
    return None


def wrap_condor_description(
    job: Job, description: Any, source: str
) -> tuple[Any, dict[str, bytes]]:
    """Run a submit description's executable under the reporting wrapper.

    Parameters
    ----------
    job : Job
        The job (or workflow) whose callback URL the wrapper reports to.
    description : mapping or str
        The submit description.
    source : str
        ``"proc"`` for a Condor job (each proc reports as ``proc-N``), or a
        workflow node's name.

    Returns
    -------
    (description, files)
        The (possibly) rewritten description and the files to upload with it
        (the wrapper); unchanged and ``{}`` when the job has no callback URL,
        or the description is text or has arguments that cannot be read
        safely (those jobs are polled only).
    """
    url = callback_url(job)
    if not url or not isinstance(description, Mapping):
        return description, {}
    lower = {str(k).lower(): k for k in description}
    if "executable" not in lower:
        return description, {}
    args = _split_arguments(description.get(lower["arguments"]) if "arguments" in lower else None)
    if args is None:
        logger.info("Job %s: arguments are not a list; not wrapping (polled only)", job.pk)
        return description, {}
    executable = str(description[lower["executable"]])
    wrapped = {
        k: v
        for k, v in description.items()
        if str(k).lower() not in ("executable", "arguments", "transfer_executable")
    }
    reporter = "proc-$(Process)" if source == "proc" else source
    # /bin/sh runs the wrapper: no execute bit needed on it, nothing to transfer but a script.
    wrapped["executable"] = "/bin/sh"
    wrapped["transfer_executable"] = False
    # The URL is not an argument: arguments are in the job's ClassAd, which every
    # user of the pool may query (condor_q -af Arguments); it travels in URL_FILE.
    wrapped["arguments"] = [WRAPPER_NAME, reporter, executable, *args]
    transfer = str(description.get(lower.get("should_transfer_files", ""), "")).upper()
    if transfer in ("YES", "IF_NEEDED"):
        key = lower.get("transfer_input_files", "transfer_input_files")
        existing = description.get(key)
        if isinstance(existing, (list, tuple)):
            items = [str(x) for x in existing]
        else:
            items = [x.strip() for x in str(existing or "").split(",") if x.strip()]
        for name in (WRAPPER_NAME, URL_FILE, executable):
            if "/" not in name and name not in items:
                items.append(name)
        wrapped[key] = ", ".join(items)
    return wrapped, wrapper_files(url)


# --------------------------------------------------------------------------
# Dask: the done callback
# --------------------------------------------------------------------------
_push_executor = concurrent.futures.ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="tethys-job-push"
)


def _dask_report(job_id: int, key: str, future: Future) -> None:
    """Runs on a small thread (not the Dask event loop): the database write."""
    from tethys_compute.dask_code import explain
    from tethys_compute.models.job import Job, _live_futures, remote_traceback

    try:
        state = future.status
        if state == "finished":
            data = {"seq": 1, "source": "dask", "status": "exited", "exit_code": 0}
        elif state == "cancelled":
            # stop() records Aborted itself; a future cancelled because the client lost
            # the scheduler says nothing about the task: the refresher will find out.
            return
        else:
            exc = future.exception(timeout=5)
            function = Job.objects.filter(pk=job_id).values_list("daskjob__function", flat=True)
            message = explain(f"{type(exc).__name__}: {exc}", function.first() or "")[:2000]
            data = {"seq": 1, "source": "dask", "status": JobStatus.ERROR, "message": message}
        outcome = record_push(job_id, key, data)
        if state not in ("finished", "cancelled"):
            # The remote traceback, while this process still holds the future.
            logs = {"stdout": "", "stderr": remote_traceback(future, message)}
            Job.objects.filter(pk=job_id, logs__isnull=True).update(logs=logs)
        _record_dask_times(job_id, key, future)
        if outcome.status == JobStatus.RESULTS_READY:
            _process_dask_results(job_id)
    except CallbackRejected as exc:
        if exc.http_status == 410:
            # result() (or the refresher) recorded the end first: nothing left to do.
            logger.debug("Dask job %s: finished already when its done callback ran", job_id)
        else:
            logger.info("Dask job %s: done callback not applied: %s", job_id, exc)
    except Exception:  # noqa: BLE001 - the refresher will catch up; never kill the thread
        logger.exception("Dask job %s: done callback failed", job_id)
    finally:
        _live_futures.pop(str(future.key), None)
        close_old_connections()


def _process_dask_results(job_id: int) -> None:
    """Store a finished Dask job's result now (Tethys Platform: ``job.result`` is stored)."""
    from tethys_compute.models.job import Job

    job = Job.objects.filter(pk=job_id).select_subclasses().first()
    if job is not None and job.status_code == JobStatus.RESULTS_READY:
        job.process_results()


def _record_dask_times(job_id: int, key: str, future: Future) -> None:
    """Replace the push's clock times by the task's own start and end (best effort).

    One short ``run_on_scheduler`` reading the scheduler's transition log;
    without an answer the times of the push stay.
    """
    from tethys_compute.jobs.refresh import _make_state_probe, dask_times
    from tethys_compute.models.job import Job

    task = str(future.key)
    try:
        answer = scheduler_call(
            future.client, "run_on_scheduler", _make_state_probe(), [task], callback_timeout=5
        )
    except Exception as exc:  # noqa: BLE001 - the push's times are kept
        logger.info("Dask job %s: task times not available: %s", job_id, exc)
        return
    _state, _text, started, stopped = answer.get(task, (None, "", None, None))
    times = dask_times(started, stopped)
    if times:
        # Only this run's row (the key changes on resubmit), once it has finished.
        Job.objects.filter(pk=job_id, callback_key=key, completion_time__isnull=False).update(
            **times
        )


def _interpreter_exiting() -> bool:
    return sys.is_finalizing() or bool(getattr(concurrent.futures.thread, "_shutdown", False))


def watch_dask_future(job: Job, future: Future) -> None:
    """Report ``future``'s outcome to ``job`` as soon as it is done (in this process).

    When the process is exiting (a script ended while its job runs), the
    report is skipped quietly: the refresher records the outcome.
    """
    job_id, key = int(job.pk), job.callback_key

    def done(fut: Future) -> None:
        # Runs on the client's event loop: only hands the report to our thread.
        if _interpreter_exiting():
            return
        try:
            _push_executor.submit(_dask_report, job_id, key, fut)
        except RuntimeError:
            # "cannot schedule new futures after interpreter shutdown": the refresher
            # picks the job up.
            logger.debug("Dask job %s: exiting; the refresher records the outcome", job_id)

    async def wait_then_report() -> None:
        # Future.add_done_callback would hand ``done`` to distributed's own thread pool,
        # whose submit fails (logged by tornado as an error) once the interpreter exits.
        while future.status == "pending":
            await future._state.wait()  # type: ignore[union-attr]
        done(future)

    future.client.loop.add_callback(wait_then_report)


def drain_pushes(timeout: float = 10.0) -> bool:
    """Wait (bounded) until the pushes queued so far are written; True when they are."""
    marker = _push_executor.submit(time.sleep, 0)
    try:
        marker.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return False
    return True
