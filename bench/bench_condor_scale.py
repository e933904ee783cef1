"""Benchmark: Condor jobs at scale (issue 18): batch submission, refresh, history.

Run ``python bench/bench_condor_scale.py`` as root (``make bench`` does).  It
starts three loopback ``sshd`` servers of the test suite, each with its own
HTCondor stand-in queue (three Condor schedulers: "batch", "small" and
"one-by-one"), and measures, each figure beside its target:

(i)   Submission of 1,000 Condor jobs made with ``create_jobs`` (held on
      submission, so none runs): ``execute_all`` (one remote command per
      scheduler: every job's directory in one archive on stdin, one
      ``condor_submit`` per job) against ``execute()`` job by job on the
      "one-by-one" scheduler.  Remote commands and SFTP transfers are counted
      where the SSH session sends them (:mod:`tethys_compute.counters`).
      Target: at most 3 remote commands for the batch, the same number for
      100 jobs (submitted to "small") as for 1,000.  Both times are printed.
(ii)  Refresh (:func:`tethys_compute.jobs.refresh.refresh_jobs`) of the 1,000
      active jobs of "batch" against the 100 of "small" (each queue holds
      exactly those jobs): one remote command each; time ratio at most 3x
      (medians of ``--repeat`` runs each, alternating).
(iii) The refresh of those 1,000 jobs, 10 of which have just finished (they
      ran after the history was seeded, so they are its newest records, as
      jobs that left the queue since the last refresh are), with 10,000
      older finished jobs in the schedd's history against none: at most
      1.2x (medians, alternating; the history is seeded with
      ``tests/htcondor_standin/seed_history.py``, and the two history files
      are swapped between runs; the 10 jobs are made active again in the
      database before each run).

The script exits 1 when a target is missed.  The stand-in's tools are Python
programs, so each ``condor_submit`` and query also pays a Python start-up on
the far side, as a real HTCondor pays its tools' start-up and schedd calls.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

_django.setup()

from django.contrib.auth.models import User  # noqa: E402

from tests.fixtures.sshd import SSHD, start_sshd  # noqa: E402
from tests.test_condor_e2e import make_scheduler  # noqa: E402
from tethys_compute import condor  # noqa: E402
from tethys_compute.counters import Measurement, remote_calls  # noqa: E402
from tethys_compute.jobs.manager import JobManager  # noqa: E402
from tethys_compute.jobs.refresh import refresh_jobs  # noqa: E402
from tethys_compute.jobs.status import JobStatus  # noqa: E402
from tethys_compute.models import CondorJob, CondorScheduler, Job  # noqa: E402

JOBS = 1000
SMALL = 100
HISTORY = 10_000
FINISHED = 10
MAX_COMMANDS = 3
REFRESH_RATIO = 3.0
HISTORY_RATIO = 1.2
HELD = {"executable": "/bin/true", "hold": True}
SEEDER = Path(__file__).resolve().parents[1] / "tests" / "htcondor_standin" / "seed_history.py"


class Scheduler:
    """One sshd + stand-in queue and its scheduler record."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.state = workdir / "q"
        self.server: SSHD = start_sshd(
            workdir / "sshd",
            extra_env={
                "CONDOR_STANDIN_DIR": str(self.state),
                # Held jobs: the scheduler process has little to do but read the queue.
                "CONDOR_STANDIN_POLL": "2.0",
                "CONDOR_STANDIN_SLOTS": "10",
            },
        )
        self.state.mkdir()
        shutil.chown(self.state, user=self.server.username)
        self.record: CondorScheduler = make_scheduler(self.server, name)
        self.host = self.record.get_remote_host()
        self.host.run(["true"])  # connected and warm before anything is counted

    def jobs(self) -> list[CondorJob]:
        return list(CondorJob.objects.filter(scheduler=self.record))

    def refresh(self) -> Measurement:
        with remote_calls.measure() as seen:
            report = refresh_jobs(CondorJob.objects.filter(scheduler=self.record), timeout=300)
        assert not report.failed, report.summary()
        return seen


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(a: Callable[[], object], b: Callable[[], object], repeat: int) -> tuple:
    """Medians of ``repeat`` runs of each, who goes first alternating run by run."""
    first: list[float] = []
    second: list[float] = []
    for index in range(repeat):
        if index % 2 == 0:
            first.append(timed(a))
            second.append(timed(b))
        else:
            second.append(timed(b))
            first.append(timed(a))
    return statistics.median(first), statistics.median(second)


def submit(manager: JobManager, user: User, where: Scheduler, count: int, batch: bool) -> tuple:
    """Seconds and counted remote calls of submitting ``count`` new held jobs."""
    jobs = manager.create_jobs(
        "sweep_{id}", user, "CONDOR", [{"submit_description": HELD}] * count, scheduler=where.record
    )
    with remote_calls.measure() as seen:
        start = time.perf_counter()
        if batch:
            manager.execute_all(jobs)
        else:
            for job in jobs:
                job.execute()
        seconds = time.perf_counter() - start
    stored = where.jobs()
    clusters = {job.cluster_id for job in stored}
    assert len(clusters) == count and None not in clusters, "a job has no cluster of its own"
    assert {job.status_code for job in stored} == {JobStatus.SUBMITTED}, "not all Submitted"
    return seconds, seen.commands("ssh"), seen.transfers("ssh")


def forget(site: Scheduler) -> None:
    """Empty the site's queue and delete its jobs' directories and rows (best effort)."""
    dirs = [
        d
        for d in CondorJob.objects.filter(scheduler=site.record).values_list(
            "remote_dir", flat=True
        )
        if d
    ]
    try:
        site.host.run(["condor_rm", "-all"])
        for start in range(0, len(dirs), 500):
            site.host.run(["rm", "-rf", "--", *dirs[start : start + 500]])
    except Exception:  # noqa: BLE001 - the server stops next anyway
        pass
    Job.objects.filter(scheduler=site.record).delete()


def check(label: str, ok: bool) -> bool:
    print(f"  {label}: {'ok' if ok else 'MISSED'}")
    return ok


def bench_submit(manager: JobManager, user: User, sites: dict[str, Scheduler]) -> bool:
    batch = submit(manager, user, sites["batch"], JOBS, batch=True)
    small = submit(manager, user, sites["small"], SMALL, batch=True)
    alone = submit(manager, user, sites["one-by-one"], JOBS, batch=False)
    print(f"(i) submission of {JOBS} held Condor jobs (sshd + HTCondor stand-in)")
    for label, (seconds, commands, transfers) in (
        (f"execute_all, {JOBS} jobs", batch),
        (f"execute_all, {SMALL} jobs", small),
        (f"execute() one by one, {JOBS} jobs", alone),
    ):
        print(
            f"  {label:<32} {seconds:8.1f} s, {commands:5} remote commands, "
            f"{transfers:5} SFTP transfers"
        )
    forget(sites.pop("one-by-one"))
    return check(
        f"batch commands {batch[1]} for {JOBS} jobs and {small[1]} for {SMALL} "
        f"(target <= {MAX_COMMANDS}, the same for both)",
        batch[1] == small[1] and batch[1] <= MAX_COMMANDS and batch[2] == small[2] == 0,
    )


def bench_refresh(sites: dict[str, Scheduler], repeat: int) -> bool:
    big, small = sites["batch"], sites["small"]
    counts = (big.refresh().commands("ssh"), small.refresh().commands("ssh"))  # -> Paused
    statuses = {job.status_code for job in big.jobs() + small.jobs()}
    assert statuses == {JobStatus.PAUSED}, statuses
    many, few = alternate(big.refresh, small.refresh, repeat)
    ratio = many / few
    print(
        f"(ii) refresh of the active Condor jobs of one scheduler "
        f"(medians of {repeat}, alternating)"
    )
    print(f"  {JOBS} jobs: {many * 1000:8.1f} ms, {counts[0]} remote command")
    print(f"  {SMALL} jobs:  {few * 1000:8.1f} ms, {counts[1]} remote command")
    return check(
        f"ratio {ratio:.2f}x (target <= {REFRESH_RATIO:g}x, one remote command each)",
        ratio <= REFRESH_RATIO and counts == (1, 1),
    )


def finish(site: Scheduler, jobs: list[CondorJob]) -> None:
    """Release ``jobs`` (held) and wait until they ran and left the queue for the history."""
    ids = [str(job.cluster_id) for job in jobs]
    site.host.run(["condor_release", *ids], check=True)
    deadline = time.monotonic() + 120
    while site.host.run(["condor_q", *ids, "-af", "ClusterId"]).stdout.strip():
        assert time.monotonic() < deadline, "the released jobs did not finish"
        time.sleep(0.5)


def bench_history(sites: dict[str, Scheduler], repeat: int) -> bool:
    """The refresh with a long history against a short one, both ending with our jobs.

    Of the site's active jobs, FINISHED ran after the history was seeded (what
    a refresh every few seconds meets: jobs that just left the queue, newest in
    the history); they are made active again in the database before each run.
    """
    site = sites["batch"]
    ran = condor.submit(site.host, {"executable": "/bin/true"})
    condor.wait(site.host, str(ran.cluster_id), timeout=60)
    seeded = site.host.run(["python3", str(SEEDER), str(HISTORY)], check=True)
    done = site.jobs()[:FINISHED]
    finish(site, done)
    history = site.state / "history.jsonl"
    lines = history.read_bytes().splitlines(keepends=True)
    full, bare = site.state / "history.full", site.state / "history.bare"
    bare.write_bytes(b"".join(lines[:1] + lines[-FINISHED:]))  # without the seeded
    shutil.chown(bare, user=site.server.username)
    history.replace(full)
    again = Job.objects.filter(pk__in=[job.pk for job in done])

    def refresh_with(kept: Path) -> float:
        """Seconds of one refresh with ``kept`` as the history (set up and checked untimed)."""
        again.update(status_code=JobStatus.PAUSED, completion_time=None)
        kept.replace(history)
        try:
            with remote_calls.measure() as seen:
                seconds = timed(site.refresh)
        finally:
            history.replace(kept)
        assert seen.commands("ssh") == 1
        assert set(again.values_list("status_code", flat=True)) == {JobStatus.COMPLETE}
        return seconds

    runs: dict[Path, list[float]] = {full: [], bare: []}
    try:
        for index in range(repeat):
            for kept in (full, bare) if index % 2 == 0 else (bare, full):
                runs[kept].append(refresh_with(kept))
    finally:
        full.replace(history)
    long, short = statistics.median(runs[full]), statistics.median(runs[bare])
    ratio = long / short
    print(
        f"(iii) refresh of the {JOBS} jobs ({FINISHED} just finished) with {HISTORY} "
        f"finished jobs in the history (medians of {repeat}, alternating)"
    )
    print(f"  (clusters {seeded.stdout.strip().replace(' ', '-')} seeded)")
    print(f"  {HISTORY + FINISHED + 1} records: {long * 1000:8.1f} ms, 1 remote command")
    print(f"  {FINISHED + 1} records:    {short * 1000:8.1f} ms, 1 remote command")
    return check(f"ratio {ratio:.2f}x (target <= {HISTORY_RATIO:g}x)", ratio <= HISTORY_RATIO)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs of each refresh timed")
    parser.add_argument("--jobs", type=int, default=JOBS, help=argparse.SUPPRESS)
    parser.add_argument("--small", type=int, default=SMALL, help=argparse.SUPPRESS)
    parser.add_argument("--history", type=int, default=HISTORY, help=argparse.SUPPRESS)
    args = parser.parse_args()
    globals().update(JOBS=args.jobs, SMALL=args.small, HISTORY=args.history)
    workdir = Path(tempfile.mkdtemp(prefix="tethys-bench-condor-"))
    workdir.chmod(0o755)
    sites: dict[str, Scheduler] = {}
    started: list[Scheduler] = []
    try:
        for name in ("batch", "small", "one-by-one"):
            (workdir / name).mkdir()
            sites[name] = Scheduler(workdir / name, name)
            started.append(sites[name])
        user = User.objects.create_user("bench", password="bench-pw")
        manager = JobManager("bench", workdir / "workspace")
        results = [
            bench_submit(manager, user, sites),
            bench_refresh(sites, args.repeat),
            bench_history(sites, args.repeat),
        ]
        return 0 if all(results) else 1
    finally:
        for site in started:
            forget(site)
            site.server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
