"""Parsers of HTCondor's command-line output (checked against HTCondor 25.14 transcripts).

Rules followed here:

* The exit status decides success or failure; text only refines the message.
* Job data comes from the machine-readable forms: ``-json`` with
  ``-attributes`` (one JSON object per job).  Objects are found by decoding at
  every line that starts with ``{``, so a stray warning line before, between
  or after them cannot break or shift the parse.  ``condor_q -json`` prints
  nothing at all for no match; ``condor_history -json`` prints ``[`` ``]``.
* ``condor_submit -terse`` prints ``C.P - C.Q`` per cluster; the
  ``condor_watch_q`` hint that HTCondor >= 25.13.2 prints on stderr after a
  normal submit is not an error.
* ``condor_rm``/``condor_hold``/``condor_release`` report success on stdout
  with exit 0 and failures on stderr with exit 1, except on a schedd with no
  jobs at all: ``condor_rm:0:There are no jobs in the queue`` with exit 0.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tethys_compute.exceptions import InvalidArgumentError

__all__ = [
    "ActionOutcome",
    "CondorVersion",
    "JobInfo",
    "JobStatus",
    "STATUS_ATTRIBUTES",
    "TerseRange",
    "action_outcome",
    "iter_json_ads",
    "job_info_from_ad",
    "normalize_job_id",
    "parse_submit_summary",
    "parse_terse_submit",
    "parse_version",
    "submit_error_message",
]

#: Attributes asked of condor_q and condor_history for a job's status.
STATUS_ATTRIBUTES: tuple[str, ...] = (
    "ClusterId",
    "ProcId",
    "JobStatus",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "HoldReason",
    "HoldReasonCode",
    "RemoveReason",
    "EnteredCurrentStatus",
    "QDate",
    "CompletionDate",
    "JobUniverse",
    "DAGManJobId",
    "DAGNodeName",
    "JobBatchName",
    "Cmd",
    "Iwd",
)


class JobStatus(enum.IntEnum):
    """HTCondor's ``JobStatus`` codes (condorpy 0.7.0 knows only 0-6, and names 6 wrongly)."""

    IDLE = 1
    RUNNING = 2
    REMOVED = 3
    COMPLETED = 4
    HELD = 5
    TRANSFERRING_OUTPUT = 6
    SUSPENDED = 7

    @property
    def label(self) -> str:
        """Lower-case name, e.g. ``"transferring_output"``."""
        return self.name.lower()


_JOB_ID = re.compile(r"^\s*(\d+)(?:\.(\d+))?\s*$")


def normalize_job_id(job_id: str | int) -> tuple[int, int | None]:
    """Split ``"C"``, ``"C.P"`` or an int into ``(cluster, proc or None)``.

    Raises
    ------
    InvalidArgumentError
        For anything that is not a job or cluster id.

    Examples
    --------
    >>> normalize_job_id("26.1")
    (26, 1)
    >>> normalize_job_id(27)
    (27, None)
    """
    if isinstance(job_id, bool):
        raise InvalidArgumentError(f"{job_id!r} is not an HTCondor job id.")
    if isinstance(job_id, int):
        if job_id < 0:
            raise InvalidArgumentError(f"{job_id!r} is not an HTCondor job id.")
        return job_id, None
    match = _JOB_ID.match(str(job_id))
    if not match:
        raise InvalidArgumentError(
            f"{job_id!r} is not an HTCondor job id; give a cluster id ('26') or a "
            "cluster.proc id ('26.1')."
        )
    proc = match.group(2)
    return int(match.group(1)), int(proc) if proc is not None else None


@dataclass(frozen=True)
class JobInfo:
    """What the schedd (or its history) says about one job.

    Attributes
    ----------
    cluster_id, proc_id : int
        The job's id, ``f"{cluster_id}.{proc_id}"``.
    status : JobStatus or None
        ``JobStatus``; ``None`` if the ad had none.
    in_queue : bool
        True when the answer came from ``condor_q``, False from ``condor_history``.
    exit_code : int or None
        ``ExitCode`` of a job that exited normally.
    exit_by_signal : bool or None
        True when the job was killed by a signal (``exit_signal`` says which).
    exit_signal : int or None
    hold_reason, remove_reason : str or None
    entered_current_status : int or None
        Unix time of the last status change.
    dagman_job_id : int or None
        Cluster id of the DAGMan job that submitted this node job.
    dag_node_name : str or None
        The node's name in its DAG.
    ad : dict
        Every attribute received.
    """

    cluster_id: int
    proc_id: int
    status: JobStatus | None
    in_queue: bool
    exit_code: int | None = None
    exit_by_signal: bool | None = None
    exit_signal: int | None = None
    hold_reason: str | None = None
    remove_reason: str | None = None
    entered_current_status: int | None = None
    dagman_job_id: int | None = None
    dag_node_name: str | None = None
    ad: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def id(self) -> str:
        """``"cluster.proc"``."""
        return f"{self.cluster_id}.{self.proc_id}"

    @property
    def status_label(self) -> str:
        """``"idle"``, ``"running"``, ... or ``"unknown"``."""
        return self.status.label if self.status is not None else "unknown"

    @property
    def done(self) -> bool:
        """True once the job has completed or been removed."""
        return self.status in (JobStatus.COMPLETED, JobStatus.REMOVED)

    @property
    def succeeded(self) -> bool:
        """True when the job completed with exit code 0 (not by a signal)."""
        return (
            self.status == JobStatus.COMPLETED and self.exit_code == 0 and not self.exit_by_signal
        )


def iter_json_ads(text: str) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of ``-json``/``-jsonl`` output, ignoring anything else.

    Examples
    --------
    >>> list(iter_json_ads('warning: x\\n[\\n{\\n  "ClusterId": 5\\n}\\n]\\n'))
    [{'ClusterId': 5}]
    """
    decoder = json.JSONDecoder()
    position = 0
    length = len(text)
    while position < length:
        line_end = text.find("\n", position)
        if line_end < 0:
            line_end = length
        if text.startswith("{", position):
            try:
                value, end = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                position = line_end + 1
                continue
            if isinstance(value, dict):
                yield value
            next_line = text.find("\n", end)
            position = length if next_line < 0 else next_line + 1
            continue
        position = line_end + 1


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def job_info_from_ad(ad: Mapping[str, Any], *, in_queue: bool) -> JobInfo | None:
    """Turn one job ad (from ``-json``) into a :class:`JobInfo`; ``None`` without an id.

    A ``JobStatus`` outside 1-7 gives ``status=None`` rather than an error.
    """
    cluster = _int(ad.get("ClusterId"))
    proc = _int(ad.get("ProcId"))
    if cluster is None or proc is None:
        return None
    code = _int(ad.get("JobStatus"))
    try:
        status: JobStatus | None = JobStatus(code) if code is not None else None
    except ValueError:
        status = None
    return JobInfo(
        cluster_id=cluster,
        proc_id=proc,
        status=status,
        in_queue=in_queue,
        exit_code=_int(ad.get("ExitCode")),
        exit_by_signal=_bool(ad.get("ExitBySignal")),
        exit_signal=_int(ad.get("ExitSignal")),
        hold_reason=_str(ad.get("HoldReason")),
        remove_reason=_str(ad.get("RemoveReason")),
        entered_current_status=_int(ad.get("EnteredCurrentStatus")),
        dagman_job_id=_int(ad.get("DAGManJobId")),
        dag_node_name=_str(ad.get("DAGNodeName")),
        ad=dict(ad),
    )


@dataclass(frozen=True)
class TerseRange:
    """One line of ``condor_submit -terse``: procs ``first``..``last`` of ``cluster_id``."""

    cluster_id: int
    first_proc: int
    last_proc: int

    @property
    def count(self) -> int:
        return self.last_proc - self.first_proc + 1


_TERSE = re.compile(r"^\s*(\d+)\.(\d+)\s+-\s+(\d+)\.(\d+)\s*$")
_SUMMARY = re.compile(r"^\s*(\d+) job\(s\) submitted to cluster (\d+)\.\s*$")


def parse_terse_submit(stdout: str) -> list[TerseRange]:
    """Parse ``condor_submit -terse`` output (``27.0 - 27.0``); other lines are ignored.

    Examples
    --------
    >>> parse_terse_submit("28.0 - 28.2\\n")
    [TerseRange(cluster_id=28, first_proc=0, last_proc=2)]
    """
    ranges = []
    for line in stdout.splitlines():
        match = _TERSE.match(line)
        if match and match.group(1) == match.group(3):
            ranges.append(TerseRange(int(match.group(1)), int(match.group(2)), int(match.group(4))))
    return ranges


def parse_submit_summary(stdout: str) -> list[tuple[int, int]]:
    """Parse ``N job(s) submitted to cluster C.`` lines into ``(cluster, count)`` pairs."""
    found = []
    for line in stdout.splitlines():
        match = _SUMMARY.match(line)
        if match:
            found.append((int(match.group(2)), int(match.group(1))))
    return found


def submit_error_message(stderr: str, stdout: str = "") -> str:
    """The ``ERROR`` lines of a failed ``condor_submit``/``condor_submit_dag``, joined.

    Falls back to the last non-empty lines when there is no ``ERROR`` line.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    if errors:
        return "; ".join(errors)
    kept = lines or [line.strip() for line in stdout.splitlines() if line.strip()]
    return "; ".join(kept[-3:]) or "no message"


@dataclass(frozen=True)
class CondorVersion:
    """``condor_version``: ``version`` ("25.14.0"), ``date``, ``build`` and ``platform``."""

    version: str
    date: str = ""
    build: str = ""
    platform: str = ""

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """``(25, 14, 0)``; non-numeric parts are dropped."""
        return tuple(int(p) for p in re.findall(r"\d+", self.version))

    def __str__(self) -> str:
        return self.version


def parse_version(stdout: str) -> CondorVersion | None:
    """Parse ``$CondorVersion: 25.14.0 2026-11-24 PRE-RELEASE-UWCS $``; ``None`` if absent.

    Examples
    --------
    >>> parse_version("$CondorVersion: 25.14.0 2026-11-24 PRE-RELEASE-UWCS $\\n").version
    '25.14.0'
    """
    version = None
    platform = ""
    for line in stdout.splitlines():
        line = line.strip()
        if version is None and line.startswith("$CondorVersion:"):
            parts = line[len("$CondorVersion:") :].rstrip("$").split()
            if parts:
                version = parts
        elif line.startswith("$CondorPlatform:"):
            platform = line[len("$CondorPlatform:") :].rstrip("$").strip()
    if not version:
        return None
    date = build = ""
    rest = version[1:]
    if rest and re.fullmatch(r"\d{4}-\d{2}-\d{2}", rest[0]):
        date, rest = rest[0], rest[1:]
    elif len(rest) >= 3 and re.fullmatch(r"[A-Z][a-z]{2}", rest[0]):
        date, rest = " ".join(rest[:3]), rest[3:]
    build = " ".join(rest)
    return CondorVersion(version[0], date, build, platform)


class ActionOutcome(enum.Enum):
    """How ``condor_rm``/``condor_hold``/``condor_release`` ended for one id."""

    DONE = "done"
    NOT_FOUND = "not_found"
    ALREADY = "already"
    FAILED = "failed"


_NO_JOBS = re.compile(r"^condor_\w+:0:There are no jobs in the queue", re.MULTILINE)
_NOT_FOUND = re.compile(r"^(Job \S+ not found|Couldn't find/\w+ all jobs\b.*)$", re.MULTILINE)
_ALREADY = re.compile(r"^Job \S+ (already held|not held to be released)\s*$", re.MULTILINE)


def action_outcome(exit_status: int, stdout: str, stderr: str) -> tuple[ActionOutcome, str]:
    """Classify one ``condor_rm``/``condor_hold``/``condor_release`` of one id.

    The exit status decides; stderr's wording only tells the kinds of failure
    apart.  Exit 0 with ``There are no jobs in the queue`` (a schedd without
    any job) is NOT_FOUND.

    Returns
    -------
    (ActionOutcome, str)
        The outcome and HTCondor's own message (its non-empty lines).

    Examples
    --------
    >>> action_outcome(1, "", "\\nJob 26.1 already held\\n")
    (<ActionOutcome.ALREADY: 'already'>, 'Job 26.1 already held')
    """
    message = " ".join(
        line.strip() for line in (stdout + "\n" + stderr).splitlines() if line.strip()
    )
    if exit_status == 0:
        if _NO_JOBS.search(stderr):
            return ActionOutcome.NOT_FOUND, message
        return ActionOutcome.DONE, message
    if _ALREADY.search(stderr):
        return ActionOutcome.ALREADY, message
    if _NOT_FOUND.search(stderr):
        return ActionOutcome.NOT_FOUND, message
    return ActionOutcome.FAILED, message
