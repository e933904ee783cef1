"""Transient scheduler process of the HTCondor test stand-in (not HTCondor's schedd).

``condor_submit`` (and the other commands, if needed) start this module detached as
``python3 schedd.py <state-dir>``.  It holds ``schedd.lock`` while it lives, starts idle jobs
as real local processes when they are eligible (``CONDOR_STANDIN_START_DELAY`` seconds after
submission or release; ``CONDOR_STANDIN_SLOTS`` slots for vanilla jobs, scheduler-universe jobs
need none), notices when they exit, writes the job event log, updates the queue and moves
finished jobs to the history.  It exits as soon as the queue is empty.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from htcondor_standin import classad, events  # noqa: E402
from htcondor_standin.classad import UNDEFINED, Expr  # noqa: E402
from htcondor_standin.state import (  # noqa: E402
    STATUS_COMPLETED,
    STATUS_HELD,
    STATUS_IDLE,
    STATUS_REMOVED,
    STATUS_RUNNING,
    STATUS_TRANSFERRING_OUTPUT,
    Config,
    Job,
    Queue,
    State,
    now,
    set_status,
)
from htcondor_standin.submit import is_scheduler_universe, job_argv, parse_environment  # noqa: E402


@dataclass
class Running:
    """A job process started by this scheduler."""

    popen: subprocess.Popen[bytes]
    run: int
    start: float
    scratch: str
    transfer: bool
    inputs: list[str]


def _int_value(ad: dict[str, Any], name: str, default: int) -> int:
    value = classad.eval_attr(ad, name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return default


def _resolve(iwd: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(iwd, path)


class Scheduler:
    """The scheduling loop."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.cfg: Config = state.config
        self.children: dict[tuple[int, int], Running] = {}
        self.transferring: dict[tuple[int, int], tuple[Running, float]] = {}
        self.scratch_counter = 0
        # events of removed running jobs, written with their directory re-created if needed
        self.abort_logs: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers

    def _new_scratch(self) -> str:
        self.scratch_counter += 1
        path = os.path.join(
            self.state.dir, "execute", f"dir_{os.getpid() * 1000 + self.scratch_counter}", "scratch"
        )
        os.makedirs(path, exist_ok=True)
        return path

    def _resources(self, job: Job, seconds: int, cpu_usage: str) -> str:
        ad = job.ad
        request = (
            _int_value(ad, "RequestCpus", 1),
            _int_value(ad, "RequestDisk", 1024),
            _int_value(ad, "RequestMemory", 128),
        )
        disk = _int_value(ad, "DiskUsage", 1)
        return events.resources_table(cpu_usage, disk, 9, request, seconds)

    # ------------------------------------------------------------------ starting

    def start(self, job: Job, when: float) -> str:
        """Start one job's process; returns the event text to log."""
        ad = job.ad
        iwd = str(ad.get("Iwd") or "/")
        sched = is_scheduler_universe(ad)
        transfer = (not sched) and str(ad.get("ShouldTransferFiles", "")).upper() == "YES"
        scratch = self._new_scratch() if not sched else iwd
        log_text = ""
        cluster, proc = job.cluster, job.proc
        cmd = str(ad.get("Cmd"))
        inputs: list[str] = []
        if transfer:
            log_text += events.transfer(
                cluster, proc, when, "Started transferring input files", self.cfg.startd_sinful
            )
            copy_exe = ad.get("TransferExecutable", True) is not False
            to_copy = ([cmd] if copy_exe else []) + [
                _resolve(iwd, p) for p in str(ad.get("TransferInput", "")).split(",") if p
            ]
            for src in to_copy:
                dest = os.path.join(scratch, os.path.basename(src.rstrip("/")))
                try:
                    if os.path.isdir(src):
                        shutil.copytree(src, dest)
                    else:
                        shutil.copy2(src, dest)
                    inputs.append(os.path.basename(dest))
                except OSError:
                    pass
            if copy_exe:
                cmd = os.path.join(scratch, os.path.basename(cmd))
            log_text += events.transfer(
                cluster, proc, when, "Finished transferring input files", None
            )
            out_path = os.path.join(scratch, "_condor_stdout")
            err_path = os.path.join(scratch, "_condor_stderr")
            cwd = scratch
        else:
            out_path = _resolve(iwd, str(ad.get("Out", "/dev/null")))
            err_path = _resolve(iwd, str(ad.get("Err", "/dev/null")))
            cwd = iwd
        in_path = _resolve(iwd, str(ad.get("In", "/dev/null")))
        env: dict[str, str] = dict(job.sys.get("env") or {})
        env_attr = ad.get("Environment")
        if isinstance(env_attr, str) and env_attr:
            env.update(parse_environment(f'"{env_attr}"'))
        if sched:
            for key, value in os.environ.items():
                if key.startswith("CONDOR_STANDIN_"):
                    env.setdefault(key, value)
            env.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        else:
            env.update(
                {
                    "_CONDOR_SCRATCH_DIR": scratch,
                    "_CONDOR_SLOT": "slot1_1",
                    "_CONDOR_JOB_IWD": iwd,
                    "BATCH_SYSTEM": "HTCondor",
                    "OMP_NUM_THREADS": str(_int_value(ad, "RequestCpus", 1)),
                    "TMPDIR": scratch,
                    "TMP": scratch,
                    "TEMP": scratch,
                }
            )
        env["CONDOR_ID"] = f"{cluster}.{proc}"
        argv = [cmd, *job_argv(ad)]
        if not os.path.isdir(cwd):
            return self._hold_on_error(
                job, when, f"Failed to change to directory '{cwd}'", code=14, subcode=2
            )
        opened: list[Any] = []
        try:
            for path, mode, what, code in (
                (in_path, "rb", "standard input", 8),
                (out_path, "wb", "standard output", 7),
                (err_path, "wb", "standard error", 7),
            ):
                if what == "standard error" and err_path == out_path:
                    opened.append(opened[1])
                    continue
                try:
                    opened.append(open(path, mode))  # noqa: SIM115
                except OSError as exc:
                    return self._hold_on_error(
                        job,
                        when,
                        f"Failed to open '{path}' as {what}: {exc.strerror} (errno {exc.errno})",
                        code=code,
                        subcode=exc.errno or 0,
                    )
            try:
                popen = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    stdin=opened[0],
                    stdout=opened[1],
                    stderr=opened[2],
                    env=env,
                    close_fds=True,
                    start_new_session=True,
                )
            except OSError as exc:
                return self._hold_on_error(
                    job,
                    when,
                    f"Failed to execute '{cmd}': (errno={exc.errno}: '{exc.strerror}')",
                    code=6,
                    subcode=exc.errno or 0,
                )
        finally:
            for fh in {id(f): f for f in opened}.values():
                fh.close()
        starts = int(ad.get("NumJobStarts", 0)) + 1
        set_status(job, STATUS_RUNNING, when)
        t = int(when)
        ad.update(
            {
                "NumJobStarts": starts,
                "JobRunCount": int(ad.get("JobRunCount", 0)) + 1,
                "NumJobMatches": int(ad.get("NumJobMatches", 0)) + 1,
                "NumShadowStarts": int(ad.get("NumShadowStarts", 0)) + 1,
                "JobCurrentStartDate": t,
                "JobCurrentStartExecutingDate": t,
                "ShadowBday": t,
                "LastMatchTime": t,
                "LastJobLeaseRenewal": t,
                "CurrentHosts": 1,
                "InitialWaitDuration": max(0, t - int(ad.get("QDate", t))),
            }
        )
        ad.setdefault("JobStartDate", t)
        ad.setdefault("FirstJobMatchDate", t)
        if not sched:
            ad.update(
                {
                    "RemoteHost": self.cfg.slot_name,
                    "RemoteSlotID": 1,
                    "StartdIpAddr": self.cfg.startd_sinful,
                    "StartdPrincipal": "execute-side@matchsession/127.0.0.1",
                    "PublicClaimId": f"{self.cfg.startd_sinful}#{t}#1#...",
                    "CpusProvisioned": _int_value(ad, "RequestCpus", 1),
                    "DiskProvisioned": _int_value(ad, "RequestDisk", 1024),
                    "MemoryProvisioned": max(_int_value(ad, "RequestMemory", 128), 128),
                    "MachineAttrCpus0": 1,
                    "MachineAttrSlotWeight0": 1,
                    "MemoryUsage": Expr("((ResidentSetSize + 1023) / 1024)"),
                    "ResidentSetSize": 0,
                    "ResidentSetSize_RAW": 0,
                    "ActivationSetupDuration": 0,
                    "BlockReadKbytes": 0,
                    "BlockReads": 0,
                    "BlockWriteKbytes": 0,
                    "BlockWrites": 0,
                    "BytesRecvd": 0.0,
                    "BytesSent": 0.0,
                    "CpusUsage": 0.0,
                    "ExecuteDirWasEncrypted": False,
                    "OrigMaxHosts": 1,
                    "RecentBlockReadKbytes": 0,
                    "RecentBlockReads": 0,
                    "RecentBlockWriteKbytes": 0,
                    "RecentBlockWrites": 0,
                    "RecentStatsLifetimeStarter": 0,
                    "StatsLifetimeStarter": 0,
                    "TransferInputFileCounts": {"CEDAR": 1},
                    "TransferInputStats": {},
                    "TransferOutputStats": {},
                    "JobCurrentReconnectAttempt": UNDEFINED,
                }
            )
        job.sys.update({"pid": popen.pid, "run": starts, "start_time": when, "scratch": scratch})
        self.children[(job.cluster, job.proc)] = Running(
            popen=popen, run=starts, start=when, scratch=scratch, transfer=transfer, inputs=inputs
        )
        if sched:
            log_text += events.execute(
                cluster, proc, when, self.cfg.schedd_sinful, None, "", 0, 0, 0
            )
        else:
            log_text += events.execute(
                cluster,
                proc,
                when,
                self.cfg.startd_sinful,
                self.cfg.slot_name,
                scratch,
                _int_value(ad, "RequestCpus", 1),
                _int_value(ad, "RequestDisk", 1024),
                max(_int_value(ad, "RequestMemory", 128), 128),
            )
        return log_text

    def _hold_on_error(self, job: Job, when: float, what: str, code: int, subcode: int) -> str:
        """Put a job that could not be started on hold (as the starter's errors do)."""
        reason = f"Error from {self.cfg.slot_name}: {what}"
        set_status(job, STATUS_HELD, when)
        job.ad.update(
            {
                "HoldReason": reason,
                "HoldReasonCode": code,
                "HoldReasonSubCode": subcode,
                "NumSystemHolds": int(job.ad.get("NumSystemHolds", 0)) + 1,
            }
        )
        return events.held(job.cluster, job.proc, when, reason, code, subcode)

    # ------------------------------------------------------------------ finishing

    def finish(self, job: Job, run: Running, when: float) -> tuple[str, bool]:
        """Record the exit of a job's process; returns (event text, leaves queue)."""
        ad = job.ad
        rc = run.popen.returncode
        seconds = max(0, int(when - run.start))
        sched = is_scheduler_universe(ad)
        cluster, proc = job.cluster, job.proc
        text = ""
        sent = received = 0
        if run.transfer:
            iwd = str(ad.get("Iwd"))
            text += events.transfer(cluster, proc, when, "Started transferring output files", None)
            received = self._transfer_back(ad, run, iwd)
            text += events.transfer(cluster, proc, when, "Finished transferring output files", None)
        wall = float(ad.get("RemoteWallClockTime", 0.0)) + (when - run.start)
        ad.update(
            {
                "RemoteWallClockTime": float(int(wall)),
                "LastRemoteWallClockTime": float(seconds),
                "CumulativeSlotTime": float(int(wall)),
                "CommittedSlotTime": float(int(wall)),
                "CommittedTime": int(wall),
                "CompletionDate": int(when),
                "JobFinishedHookDone": int(when),
                "NumJobCompletions": int(ad.get("NumJobCompletions", 0)) + 1,
                "CurrentHosts": 0,
                "TerminationPending": True,
            }
        )
        if rc is not None and rc < 0:
            ad["ExitBySignal"] = True
            ad["ExitSignal"] = -rc
            ad.pop("ExitCode", None)
        else:
            ad["ExitBySignal"] = False
            ad["ExitCode"] = rc
        if "RemoteHost" in ad:
            ad["LastRemoteHost"] = ad.pop("RemoteHost")
        if "PublicClaimId" in ad:
            ad["LastPublicClaimId"] = ad.pop("PublicClaimId")
        ad.pop("StartdIpAddr", None)
        ad.pop("CpusUsage", None)
        if not sched:
            ad["ResidentSetSize"] = 1024
            ad["ResidentSetSize_RAW"] = 1024
            for attr in (
                "ActivationDuration",
                "ActivationExecutionDuration",
                "ActivationTeardownDuration",
            ):
                ad[attr] = 0
            text += events.image_size(cluster, proc, when, _int_value(ad, "ImageSize", 1), 1024)
        resources = None if sched else self._resources(job, seconds, "" if seconds == 0 else "0")
        signal_no = -rc if rc is not None and rc < 0 else None
        text += events.terminated(
            cluster,
            proc,
            when,
            rc if signal_no is None else None,
            signal_no,
            resources,
            sent,
            received,
        )
        if not sched:
            shutil.rmtree(os.path.dirname(run.scratch), ignore_errors=True)
        hold_expr = ad.get("OnExitHold")
        if hold_expr is not None and classad.matches(classad.unparse(hold_expr), ad):
            reason = "The on_exit_hold expression evaluated to TRUE."
            set_status(job, STATUS_HELD, when)
            ad.update({"HoldReason": reason, "HoldReasonCode": 3, "HoldReasonSubCode": 0})
            text += events.held(cluster, proc, when, reason, 3, 0)
            return text, False
        remove_expr = ad.get("OnExitRemove")
        if remove_expr is not None:
            value = classad.evaluate(classad.unparse(remove_expr), ad)
            if value is False:
                set_status(job, STATUS_IDLE, when)
                job.sys["eligible_at"] = when + self.cfg.start_delay
                return text, False
        set_status(job, STATUS_COMPLETED, when)
        return text, True

    def _transfer_back(self, ad: dict[str, Any], run: Running, iwd: str) -> int:
        total = 0
        for name, attr in (("_condor_stdout", "Out"), ("_condor_stderr", "Err")):
            target = str(ad.get(attr, "/dev/null"))
            src = os.path.join(run.scratch, name)
            if target != "/dev/null" and os.path.exists(src):
                try:
                    shutil.copyfile(src, _resolve(iwd, target))
                    total += os.path.getsize(src)
                except OSError:
                    pass
        wanted = ad.get("TransferOutput")
        if isinstance(wanted, str):
            names = [p for p in wanted.split(",") if p]
        else:
            names = [
                n
                for n in os.listdir(run.scratch)
                if n not in run.inputs and not n.startswith("_condor_")
            ]
        for name in names:
            src = os.path.join(run.scratch, name)
            dest = os.path.join(iwd, os.path.basename(name))
            try:
                if os.path.isdir(src):
                    shutil.copytree(src, dest, dirs_exist_ok=True)
                else:
                    shutil.copy2(src, dest)
                    total += os.path.getsize(src)
            except OSError:
                pass
        return total

    # ------------------------------------------------------------------ the loop

    def cycle(self, queue: Queue, when: float) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """One scheduling pass; returns event texts per log file and ads for history."""
        logs: dict[str, str] = {}
        leaving: list[Job] = []

        def log(job: Job, text: str) -> None:
            for path in events.job_logs(job.ad):
                if text:
                    logs[path] = logs.get(path, "") + text

        by_id = {(j.cluster, j.proc): j for j in queue.jobs}
        for key, run in list(self.children.items()):
            if run.popen.poll() is None:
                continue
            del self.children[key]
            job = by_id.get(key)
            if job is None or job.status != STATUS_RUNNING or job.sys.get("run") != run.run:
                if not is_scheduler_universe(job.ad if job else {}):
                    shutil.rmtree(os.path.dirname(run.scratch), ignore_errors=True)
                continue
            if run.transfer and self.cfg.transfer_delay > 0:
                # JobStatus 6 while the (pretend) output transfer takes its time
                set_status(job, STATUS_TRANSFERRING_OUTPUT, when)
                self.transferring[key] = (run, when + self.cfg.transfer_delay)
                continue
            text, leaves = self.finish(job, run, when)
            log(job, text)
            if leaves:
                leaving.append(job)
        for key, (run, due) in list(self.transferring.items()):
            job = by_id.get(key)
            if job is None or job.status != STATUS_TRANSFERRING_OUTPUT:
                del self.transferring[key]
                shutil.rmtree(os.path.dirname(run.scratch), ignore_errors=True)
            elif when >= due:
                del self.transferring[key]
                text, leaves = self.finish(job, run, when)
                log(job, text)
                if leaves:
                    leaving.append(job)
        for job in queue.jobs:
            if job.status == STATUS_RUNNING and (job.cluster, job.proc) not in self.children:
                pid = job.sys.get("pid")
                alive = False
                if isinstance(pid, int):
                    try:
                        os.kill(pid, 0)
                        alive = True
                    except OSError:
                        alive = False
                if not alive:
                    set_status(job, STATUS_IDLE, when)
                    job.sys["eligible_at"] = when + self.cfg.start_delay
            elif job.status == STATUS_REMOVED:
                key = (job.cluster, job.proc)
                if key in self.children:
                    continue
                if when - float(job.sys.get("status_time", 0)) >= self.cfg.remove_linger:
                    leaving.append(job)
                    for path, text in dict(job.sys.pop("abort_events", {})).items():
                        self.abort_logs[path] = self.abort_logs.get(path, "") + text
        running = sum(
            1
            for j in queue.jobs
            if j.status in (STATUS_RUNNING, STATUS_TRANSFERRING_OUTPUT)
            and not is_scheduler_universe(j.ad)
        )
        candidates = sorted(
            (j for j in queue.jobs if j.status == STATUS_IDLE),
            key=lambda j: (-int(j.ad.get("JobPrio", 0)), j.cluster, j.proc),
        )
        blocked = False
        for job in candidates:
            eligible = float(
                job.sys.get(
                    "eligible_at",
                    float(job.sys.get("submit_time", 0)) + self.cfg.start_delay,
                )
            )
            sched = is_scheduler_universe(job.ad)
            if when < eligible:
                if sched:
                    continue
                # like a negotiation cycle, jobs are matched in queue order: a job that is
                # not yet eligible is not overtaken by later ones
                blocked = True
            if not sched and (blocked or running >= self.cfg.slots):
                continue
            log(job, self.start(job, when))
            if not sched and job.status == STATUS_RUNNING:
                running += 1
        ads = []
        for job in leaving:
            queue.jobs.remove(job)
            ads.append(job.ad)
        return logs, ads

    def run(self) -> None:
        """Loop until the queue is empty."""
        fd = os.open(self.state.schedd_lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return
        try:
            while True:
                with self.state.lock():
                    queue = self.state._load()
                    when = now()
                    logs, ads = self.cycle(queue, when)
                    self.state._save(queue)
                    if ads:
                        self.state.append_history(ads)
                    for path, text in logs.items():
                        events.append(path, text)
                    for path, text in self.abort_logs.items():
                        events.append(path, text, create_dirs=True)
                    self.abort_logs.clear()
                    if not queue.jobs and not self.children and not self.transferring:
                        fcntl.flock(fd, fcntl.LOCK_UN)
                        os.close(fd)
                        fd = -1
                        return
                time.sleep(self.cfg.poll)
        finally:
            self._kill_children()
            if fd >= 0:
                os.close(fd)

    def _kill_children(self) -> None:
        """Never leave job processes behind when this process ends (normally nothing runs)."""
        for run in self.children.values():
            if run.popen.poll() is None:
                try:
                    os.killpg(run.popen.pid, signal.SIGKILL)
                except OSError:
                    pass


def main() -> None:
    """Entry point: ``schedd.py <state-dir>``."""
    if len(sys.argv) > 1:
        os.environ["CONDOR_STANDIN_DIR"] = sys.argv[1]
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    Scheduler(State(Config.from_env())).run()


if __name__ == "__main__":
    main()
