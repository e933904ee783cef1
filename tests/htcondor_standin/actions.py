"""``condor_rm``, ``condor_hold`` and ``condor_release`` of the HTCondor test stand-in.

(This is a test stand-in, not HTCondor.)  Supported forms: ``C``, ``C.P``, owner names,
``-constraint E``, ``-all``, ``-reason R``, ``-totals``, ``-long``, ``-version``; ``-name``,
``-pool``, ``-addr``, ``-debug`` are accepted and ignored.
"""

from __future__ import annotations

import json
import os
import re
import signal
from dataclasses import dataclass
from typing import Any, TextIO

from htcondor_standin import classad, events
from htcondor_standin.state import (
    PLATFORM_LINE,
    STATUS_HELD,
    STATUS_IDLE,
    STATUS_REMOVED,
    STATUS_RUNNING,
    VERSION_LINE,
    Config,
    Job,
    Queue,
    State,
    now,
    reason_by_user,
    set_status,
)

USAGE = """Usage: {prog} [options] [constraints]
 where [options] is zero or more of:
  -help               Display this message and exit
  -version            Display version information and exit
  -long               Display full result classad
  -totals             Display success/failure totals
  -debug              Display debugging information while running
  -name schedd_name   Connect to the given schedd
  -pool hostname      Use the given central manager to find daemons
  -addr <ip:port>     Connect directly to the given "sinful string"
  -reason reason      Use the given {reason_attr}
  -forcex             Force the immediate local removal of jobs in the X state
                      (only affects jobs already being removed)
  -transfer           Transfer output files before removing
 and where [constraints] is one of:
  cluster.proc        {verb_cap} the given job
  cluster             {verb_cap} the given cluster of jobs
  user                {verb_cap} all jobs owned by user
  -constraint expr    {verb_cap} all jobs matching the boolean expression
  -all                {verb_cap} all jobs (cannot be used with other constraints)
  -held               {verb_cap} only held jobs (may be combined with the above constraints)
"""

MODES = {
    "rm": {"verb": "remove", "done": "marked for removal", "tool": "condor_rm", "action": 3},
    "hold": {"verb": "hold", "done": "held", "tool": "condor_hold", "action": 1},
    "release": {"verb": "release", "done": "released", "tool": "condor_release", "action": 2},
}


@dataclass
class Target:
    """One thing to act on: a job, a cluster, a constraint or everything."""

    kind: str
    cluster: int = 0
    proc: int = 0
    constraint: str = ""


#: HoldReasonCode of a job submitted with ``hold = true``.
SUBMITTED_ON_HOLD = 15


def _eligible(mode: str, job: Job) -> bool:
    if mode == "rm":
        return job.status != STATUS_REMOVED
    if mode == "hold":
        # A job submitted on hold can be held again: HTCondor says "held" and replaces
        # its HoldReason.
        if job.status == STATUS_HELD:
            return int(job.ad.get("HoldReasonCode", 0)) == SUBMITTED_ON_HOLD
        return job.status != STATUS_REMOVED
    return job.status == STATUS_HELD


def _cached_job_count(state: State, queue: Queue, when: float) -> int:
    """The schedd's job count as its last periodic refresh saw it.

    The real schedd decides between "There are no jobs in the queue" (exit 0)
    and "Couldn't find/<verb> all jobs" (exit 1) from a job count it refreshes
    every few seconds, not from the live queue.  The stand-in keeps that count
    in ``jobcount.json`` and refreshes it when it is older than
    ``CONDOR_STANDIN_COUNT_INTERVAL`` seconds, or when the queue holds more jobs
    than it says (only a count lagging behind jobs that *left* was recorded, rm-24;
    the stand-in never hides a job that was just submitted).  Call with the state
    lock held.
    """
    path = os.path.join(state.dir, "jobcount.json")
    try:
        with open(path, encoding="utf-8") as fh:
            cached = json.load(fh)
        count, at = int(cached["count"]), float(cached["at"])
    except (OSError, ValueError, KeyError, TypeError):
        count, at = 0, float("-inf")
    if when - at >= state.config.count_interval or len(queue.jobs) > count:
        count, at = len(queue.jobs), when
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"count": count, "at": at}, fh)
    return count


def _kill(job: Job) -> None:
    pid = job.sys.get("pid")
    if isinstance(pid, int) and pid > 0:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _stop_running(job: Job, when: float, code: int, reason: str, cfg: Config) -> str:
    """Kill a running job's process; returns the 006+004 event text."""
    _kill(job)
    ad = job.ad
    start = float(job.sys.get("start_time", when))
    seconds = max(0, int(when - start))
    ad["RemoteWallClockTime"] = float(int(float(ad.get("RemoteWallClockTime", 0.0)) + seconds))
    ad["LastRemoteWallClockTime"] = float(seconds)
    ad["CurrentHosts"] = 0
    if "RemoteHost" in ad:
        ad["LastRemoteHost"] = ad.pop("RemoteHost")
    if "PublicClaimId" in ad:
        ad["LastPublicClaimId"] = ad.pop("PublicClaimId")
    ad.pop("StartdIpAddr", None)
    job.sys["run"] = -1
    if int(ad.get("JobUniverse", 5)) in (7, 12):
        return ""

    def num(name: str, default: int) -> int:
        v = classad.eval_attr(ad, name)
        return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else default

    table = events.resources_table(
        "0",
        num("DiskUsage", 1),
        9,
        (num("RequestCpus", 1), num("RequestDisk", 1024), num("RequestMemory", 128)),
        seconds,
    )
    return events.image_size(
        job.cluster, job.proc, when, num("ImageSize", 1), 1024
    ) + events.evicted(job.cluster, job.proc, when, code, reason, table)


def _apply(
    mode: str, job: Job, queue: Queue, reason: str, when: float, cfg: Config
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Act on one job; returns event texts per log and ads that leave the queue."""
    logs: dict[str, str] = {}
    leaving: list[dict[str, Any]] = []

    def log(text: str) -> None:
        for path in events.job_logs(job.ad):
            if text:
                logs[path] = logs.get(path, "") + text

    ad = job.ad
    if mode == "rm":
        was_running = job.status == STATUS_RUNNING
        set_status(job, STATUS_REMOVED, when)
        ad["RemoveReason"] = reason
        if was_running:
            # Like the schedd: the events of a running job's removal are written when it
            # leaves the queue (after the shadow is gone), by the scheduler process, which
            # re-creates the log's directory if it was deleted meanwhile.
            text = _stop_running(job, when, 1023, reason, cfg)
            text += events.aborted(job.cluster, job.proc, when, reason)
            job.sys["abort_events"] = {path: text for path in events.job_logs(ad)}
        else:
            log(events.aborted(job.cluster, job.proc, when, reason))
            queue.jobs.remove(job)
            leaving.append(ad)
        if int(ad.get("JobUniverse", 5)) == 7:
            for other in list(queue.jobs):
                if other.ad.get("DAGManJobId") == job.cluster and other.status != STATUS_REMOVED:
                    sub_reason = (
                        f"removed because <OtherJobRemoveRequirements = DAGManJobId =?= "
                        f"{job.cluster}> fired when job ({job.cluster}.{job.proc}) was removed"
                    )
                    sub_logs, sub_leaving = _apply("rm", other, queue, sub_reason, when, cfg)
                    for k, v in sub_logs.items():
                        logs[k] = logs.get(k, "") + v
                    leaving.extend(sub_leaving)
    elif mode == "hold":
        if job.status == STATUS_RUNNING:
            log(_stop_running(job, when, 1, reason, cfg))
        set_status(job, STATUS_HELD, when)
        holds = int(ad.get("NumHolds", 0)) + 1
        by_reason = ad.get("NumHoldsByReason")
        by_reason = dict(by_reason) if isinstance(by_reason, dict) else {}
        by_reason["UserRequest"] = int(by_reason.get("UserRequest", 0)) + 1
        ad.update(
            {
                "HoldReason": reason,
                "HoldReasonCode": 1,
                "HoldReasonSubCode": 0,
                "NumHolds": holds,
                "NumHoldsByReason": by_reason,
            }
        )
        ad.pop("ReleaseReason", None)
        log(events.held(job.cluster, job.proc, when, reason, 1, 0))
    else:
        set_status(job, STATUS_IDLE, when)
        if "HoldReason" in ad:
            ad["LastHoldReason"] = ad["HoldReason"]
            ad["LastHoldReasonCode"] = ad.get("HoldReasonCode", 0)
            ad["LastHoldReasonSubCode"] = ad.get("HoldReasonSubCode", 0)
        for attr in ("HoldReason", "HoldReasonCode", "HoldReasonSubCode"):
            ad.pop(attr, None)
        ad["ReleaseReason"] = reason
        job.sys["eligible_at"] = when + cfg.start_delay
        log(events.released(job.cluster, job.proc, when, reason))
    return logs, leaving


def main(mode: str, argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point of condor_rm (``mode='rm'``), condor_hold and condor_release."""
    info = MODES[mode]
    prog = str(info["tool"])
    usage = USAGE.format(
        prog=prog,
        reason_attr={"rm": "RemoveReason", "hold": "HoldReason", "release": "ReleaseReason"}[mode],
        verb_cap=str(info["verb"]).capitalize(),
    )
    targets: list[Target] = []
    clusters: list[int] = []
    reason: str | None = None
    totals = False
    long_output = False
    held_only = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        low = arg.lower()
        if low in ("-reason",):
            if i + 1 >= len(argv):
                err.write(usage)
                return 1
            reason = argv[i + 1]
            i += 1
        elif low in ("-constraint", "-const"):
            if i + 1 >= len(argv):
                err.write(usage)
                return 1
            targets.append(Target("constraint", constraint=argv[i + 1]))
            i += 1
        elif low == "-all":
            targets.append(Target("all"))
        elif low in ("-name", "-pool", "-addr"):
            i += 1
        elif low in ("-totals",):
            totals = True
        elif low in ("-long", "-l"):
            long_output = True
        elif low == "-held" and mode == "rm":
            held_only = True
        elif low in ("-debug", "-forcex", "-transfer"):
            pass
        elif low == "-version":
            out.write(f"{VERSION_LINE}\n{PLATFORM_LINE}\n")
            return 0
        elif low.startswith("-"):
            err.write(usage)
            return 1
        else:
            m = re.match(r"^(\d+)(?:\.(\d+))?$", arg)
            if m and m.group(2) is not None:
                targets.append(Target("proc", int(m.group(1)), int(m.group(2))))
            elif m:
                clusters.append(int(m.group(1)))
            else:
                targets.append(Target("constraint", constraint=f'Owner == "{arg}"'))
        i += 1
    if len(clusters) == 1:
        targets.insert(0, Target("cluster", clusters[0]))
    elif clusters:
        expr = " || ".join(f"ClusterId == {c}" for c in clusters)
        targets.insert(0, Target("constraint", constraint=expr))
    if not targets:
        err.write("You did not specify any jobs\n" + usage)
        return 1
    state = State()
    cfg = state.config
    default_reason = reason_by_user(reason, prog, cfg.user)
    failed = False
    messages: list[tuple[bool | None, str]] = []  # (success, text); None: the empty-queue note
    results: dict[str, int] = {}
    logs: dict[str, str] = {}
    leaving: list[dict[str, Any]] = []
    with state.lock():
        queue = state._load()
        when = now()
        empty = _cached_job_count(state, queue, when) == 0
        for target in targets:
            if target.kind == "proc":
                job = queue.find(target.cluster, target.proc)
                jid = f"{target.cluster}.{target.proc}"
                if job is None or (mode == "rm" and job.status == STATUS_REMOVED):
                    messages.append((False, f"Job {jid} not found"))
                    results[f"job_{target.cluster}_{target.proc}"] = 3
                    continue
                if not _eligible(mode, job):
                    text = (
                        f"Job {jid} already held"
                        if mode == "hold"
                        else f"Job {jid} not held to be released"
                    )
                    messages.append((False, text))
                    results[f"job_{target.cluster}_{target.proc}"] = 4
                    continue
                sub_logs, sub_leaving = _apply(mode, job, queue, default_reason, when, cfg)
                for k, v in sub_logs.items():
                    logs[k] = logs.get(k, "") + v
                leaving.extend(sub_leaving)
                results[f"job_{target.cluster}_{target.proc}"] = 1
                messages.append((True, f"Job {jid} {info['done']}"))
                continue
            if empty:
                messages.append((None, f"{prog}:0:There are no jobs in the queue"))
                continue
            if target.kind == "cluster":
                chosen = [j for j in queue.jobs if j.cluster == target.cluster]
                ok_text = f"All jobs in cluster {target.cluster} have been {info['done']}"
                bad_text = f"Couldn't find/{info['verb']} all jobs in cluster {target.cluster}"
            elif target.kind == "constraint":
                try:
                    chosen = [j for j in queue.jobs if classad.matches(target.constraint, j.ad)]
                except classad.ParseError:
                    chosen = []
                ok_text = (
                    f"All jobs matching constraint ({target.constraint}) have been {info['done']}"
                )
                bad_text = (
                    f"Couldn't find/{info['verb']} all jobs matching constraint "
                    f"({target.constraint})"
                )
            else:
                chosen = list(queue.jobs)
                ok_text = f"All jobs have been {info['done']}"
                bad_text = f"Couldn't find/{info['verb']} all jobs"
            chosen = [j for j in chosen if _eligible(mode, j)]
            if held_only:
                chosen = [j for j in chosen if j.status == STATUS_HELD]
            if not chosen:
                messages.append((False, bad_text))
                continue
            for job in chosen:
                if job in queue.jobs and _eligible(mode, job):
                    sub_logs, sub_leaving = _apply(mode, job, queue, default_reason, when, cfg)
                    for k, v in sub_logs.items():
                        logs[k] = logs.get(k, "") + v
                    leaving.extend(sub_leaving)
            messages.append((True, ok_text))
        state._save(queue)
        if leaving:
            state.append_history(leaving)
        for path, text in logs.items():
            events.append(path, text)
    if totals:
        out.write(
            "0 Succeeded, 0 Failed, 0 Not Found, 0 Bad Status, 0 Already Done, "
            "0 Permission Denied\n"
        )
    if long_output and results:
        result_ad = {
            "ActionResult": 1,
            "ActionResultType": 1,
            "IsQueueSuperUser": True,
            "JobAction": info["action"],
            "TotalJobAds": len(results),
            **results,
        }
        out.write(classad.format_long(result_ad) + "\n")
    for ok, text in messages:
        if ok is None:
            err.write(text + "\n")
        elif ok:
            out.write(text + "\n")
        else:
            failed = True
            out.flush()
            err.write("\n" + text + "\n")
    return 1 if failed else 0
