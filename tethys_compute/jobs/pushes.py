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

Tokens are :mod:`tethys_compute.jobs.callback_tokens`; the Condor wrapper that
sends the reports, :mod:`tethys_compute.jobs.condor_wrapper`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from tethys_compute.document_limits import DocumentLimitError, check_json_nesting
from tethys_compute.exceptions import InvalidArgumentError
from tethys_compute.jobs.status import (
    FINISHED_STATUSES,
    JobStatus,
    apply_status,
    can_transition,
    parse_status,
)

if TYPE_CHECKING:
    pass


from tethys_compute.jobs.callback_tokens import CallbackRejected, verify_token
from tethys_compute.jobs.condor_wrapper import transfers_output
from tethys_compute.jobs.results import finished_well
from tethys_compute.models.job import CondorWorkflowNode, Job

# The logger of the module these came from, so logging configurations keep working.
logger = logging.getLogger("tethys_compute.jobs.callbacks")

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


# --------------------------------------------------------------------------
@dataclass(frozen=True)
class PushResult:
    """What a report did: ``applied`` (the status changed) and the status after it."""

    applied: bool
    status: str


def _transferring(job: Job, source: str) -> bool:
    if job.KIND == "condorworkflow":
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
        total = CondorWorkflowNode.objects.filter(workflow_id=job.pk).count()
        if len(exits) < total:
            return JobStatus.VARIOUS if current != JobStatus.SUBMITTED else JobStatus.RUNNING
    else:
        total = max(int(getattr(job, "num_jobs", 1) or 1), 1)
        if len(exits) < total:
            return JobStatus.VARIOUS
    if any(code != 0 for code in exits.values()):
        return JobStatus.ERROR
    return finished_well(job)


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
        own = CondorWorkflowNode.objects.filter(workflow_id=job.pk).count()
    else:
        own = int(getattr(job, "num_jobs", 1) or 1)
    return max(own, 1) + EXTRA_SOURCES


def _update_node(job: Job, report: Mapping[str, Any]) -> None:
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


def _current_run(job_id: int, key: str) -> Job:
    """The job (as its own kind) when ``key`` is its current run and it takes reports."""
    try:
        job = Job.objects.get_subclass(pk=job_id)
    except Job.DoesNotExist:
        raise CallbackRejected("The job no longer exists.", 403)
    if not job.callback_key or job.callback_key != key:
        raise CallbackRejected("The callback URL belongs to an earlier run of the job.", 403)
    if job.status_code in FINISHED_STATUSES:
        raise CallbackRejected("The job has finished; its callback URL takes no more reports.", 410)
    return job  # type: ignore[no-any-return]


def _record_seq(job: Job, report: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, Any]]:
    """The exit codes so far and the new ``callback_seqs`` with this report (replay-checked)."""
    source, seq = report["source"], report["seq"]
    stored = job.callback_seqs or {}
    seqs = dict(stored.get("seq", {}))
    exits = dict(stored.get("exit", {}))
    if source not in seqs and len(seqs) >= _source_limit(job):
        raise CallbackRejected(
            f"Too many sources report to this job (at most {_source_limit(job)}).", 400
        )
    if seq <= int(seqs.get(source, 0)):
        raise CallbackRejected(
            f"Job {job.pk} ({job.name!r}): report {seq} of {source or 'the job'!r} was "
            "already seen (a replay, or an older report); nothing changed.",
            409,
        )
    seqs[source] = seq
    if report["status"] == "exited":
        exits[source or "job"] = int(report["exit_code"])
    return exits, {"seq": seqs, "exit": exits}


def _message(report: Mapping[str, Any], target: str, exits: Mapping[str, int]) -> str | None:
    """The status message a report sets: its own, or one said for it."""
    message = report["message"] or None
    if report["status"] == "exited" and target not in FINISHED_STATUSES:
        message = message or (
            f"{report['source'] or 'The job'} exited with code {report['exit_code']}; "
            "HTCondor is transferring the output."
        )
    if target == JobStatus.ERROR and message is None:
        failed = {s: c for s, c in exits.items() if c != 0}
        message = "Exit code " + ", ".join(f"{c} ({s})" for s, c in failed.items())
    return message


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
    report = _clean_report(data)
    for _ in range(MAX_ATTEMPTS):
        job = _current_run(job_id, key)
        exits, new_seqs = _record_seq(job, report)
        version = job.status_version
        current = job.status_code
        target = _target(job, current, exits, report)
        if current == JobStatus.PENDING and target != JobStatus.SUBMITTED:
            # The job reports before execute() recorded the submission: it was submitted.
            apply_status(job, JobStatus.SUBMITTED, expected_version=version)
            continue
        message = _message(report, target, exits)
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
