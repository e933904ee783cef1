"""condor_hold/condor_release/condor_rm of the HTCondor stand-in where real HTCondor 25 surprises.

These behaviours were seen on a real HTCondor 25.13/25.14 pool (issue 15; the transcripts in
``tests/fixtures/htcondor/hold_release.txt`` and ``rm.txt`` hold the ones that were recorded):

* a cluster id (``C``) whose jobs are all held (hold) or not held (release) gives
  ``Couldn't find/<verb> all jobs in cluster C`` (exit 1); only ``C.P`` ids say "already";
* the choice between that and ``<tool>:0:There are no jobs in the queue`` (exit 0) comes from
  a job count the schedd refreshes every few seconds, not from the live queue;
* holding a job submitted on hold succeeds and replaces its HoldReason;
* the abort event of a removed running job is written when it leaves the queue, and the
  schedd re-creates the job's directory if it was deleted meanwhile.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.test_htcondor_standin_golden import _drain, _sh, _standin

pytestmark = [pytest.mark.timeout(60)]


def _user(work: Path, env: dict[str, str]) -> str:
    return _sh(work, env, "id -un").stdout.strip()


def _wait_gone(work: Path, env: dict[str, str], cluster: int, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while _sh(work, env, f"condor_q {cluster} -af ProcId").stdout.strip():
        assert time.monotonic() < deadline, f"cluster {cluster} never left the queue"
        time.sleep(0.1)


def test_hold_and_release_of_a_cluster_vs_a_job_id(tmp_path: Path) -> None:
    """Cluster ids say "Couldn't find" when nothing is left to act on; C.P ids say why."""
    work, env = _standin(tmp_path, CONDOR_STANDIN_START_DELAY="60")
    (work / "idle.sub").write_text("executable = /bin/true\nqueue 2\n")
    try:
        assert _sh(work, env, "condor_submit -terse idle.sub").stdout == "1.0 - 1.1\n"
        first = _sh(work, env, "condor_hold 1")
        assert (first.returncode, first.stdout) == (0, "All jobs in cluster 1 have been held\n")
        again = _sh(work, env, "condor_hold 1")
        assert (again.returncode, again.stdout, again.stderr) == (
            1,
            "",
            "\nCouldn't find/hold all jobs in cluster 1\n",
        )
        proc = _sh(work, env, "condor_hold 1.0")
        assert (proc.returncode, proc.stderr) == (1, "\nJob 1.0 already held\n")
        assert _sh(work, env, "condor_release 1").stdout == (
            "All jobs in cluster 1 have been released\n"
        )
        again = _sh(work, env, "condor_release 1")
        assert (again.returncode, again.stderr) == (
            1,
            "\nCouldn't find/release all jobs in cluster 1\n",
        )
        proc = _sh(work, env, "condor_release 1.1")
        assert (proc.returncode, proc.stderr) == (1, "\nJob 1.1 not held to be released\n")
    finally:
        _drain(work, env)


def test_no_jobs_in_the_queue_comes_from_a_cached_count(tmp_path: Path) -> None:
    """With a count that is not refreshed: "no jobs" (exit 0) for an empty queue; once a job
    was counted and left, "Couldn't find" (exit 1) although the queue is empty (as rm-24)."""
    work, env = _standin(
        tmp_path, CONDOR_STANDIN_START_DELAY="60", CONDOR_STANDIN_COUNT_INTERVAL="3600"
    )
    (work / "idle.sub").write_text("executable = /bin/true\nqueue\n")
    try:
        empty = _sh(work, env, "condor_hold 7")
        assert (empty.returncode, empty.stdout, empty.stderr) == (
            0,
            "",
            "condor_hold:0:There are no jobs in the queue\n",
        )
        # A job submitted since is counted at once.
        assert _sh(work, env, "condor_submit -terse idle.sub").stdout == "1.0 - 1.0\n"
        assert _sh(work, env, "condor_hold 1").stdout == "All jobs in cluster 1 have been held\n"
        assert _sh(work, env, "condor_rm 1").returncode == 0
        assert _sh(work, env, "condor_q -af ClusterId").stdout == ""
        gone = _sh(work, env, "condor_rm 1")
        assert (gone.returncode, gone.stderr) == (
            1,
            "\nCouldn't find/remove all jobs in cluster 1\n",
        )
        # A C.P id never gets the empty-queue answer.
        proc = _sh(work, env, "condor_rm 1.0")
        assert (proc.returncode, proc.stderr) == (1, "\nJob 1.0 not found\n")
    finally:
        _drain(work, env)


def test_count_refreshed_after_its_interval(tmp_path: Path) -> None:
    """Once the interval has passed the count is taken again from the queue."""
    work, env = _standin(
        tmp_path, CONDOR_STANDIN_START_DELAY="60", CONDOR_STANDIN_COUNT_INTERVAL="0.5"
    )
    (work / "idle.sub").write_text("executable = /bin/true\nqueue\n")
    try:
        assert _sh(work, env, "condor_submit -terse idle.sub").returncode == 0
        assert _sh(work, env, "condor_rm 1").returncode == 0
        assert _sh(work, env, "condor_rm 1").stderr == (
            "\nCouldn't find/remove all jobs in cluster 1\n"
        )
        time.sleep(0.6)
        assert _sh(work, env, "condor_rm 1").stderr == (
            "condor_rm:0:There are no jobs in the queue\n"
        )
    finally:
        _drain(work, env)


def test_hold_of_a_job_submitted_on_hold_replaces_its_reason(tmp_path: Path) -> None:
    work, env = _standin(tmp_path)
    (work / "held.sub").write_text("executable = /bin/true\nhold = true\nqueue\n")
    try:
        assert _sh(work, env, "condor_submit -terse held.sub").returncode == 0
        before = _sh(work, env, "condor_q 1 -af JobStatus HoldReasonCode HoldReason").stdout
        assert before == "5 15 submitted on hold at user's request\n"
        held = _sh(work, env, "condor_hold 1")
        assert (held.returncode, held.stdout) == (0, "All jobs in cluster 1 have been held\n")
        after = _sh(work, env, "condor_q 1 -af JobStatus HoldReasonCode HoldReason").stdout
        assert after == f"5 1 via condor_hold (by user {_user(work, env)})\n"
        # Now held at the user's request: a second hold finds nothing to hold.
        assert _sh(work, env, "condor_hold 1").returncode == 1
    finally:
        _drain(work, env)


def test_removed_running_jobs_directory_is_recreated_for_its_abort_event(
    tmp_path: Path,
) -> None:
    """As the schedd does: deleting the directory right after condor_rm does not keep it away."""
    work, env = _standin(tmp_path, CONDOR_STANDIN_REMOVE_LINGER="0.5")
    job_dir = work / "job"
    job_dir.mkdir()
    (job_dir / "run.sub").write_text(
        "executable = /bin/sleep\narguments = 30\nlog = job.log\nqueue\n"
    )
    try:
        assert _sh(work, env, "cd job && condor_submit -terse run.sub").returncode == 0
        deadline = time.monotonic() + 15
        while _sh(work, env, "condor_q 1 -af JobStatus").stdout != "2\n":
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.05)
        assert _sh(work, env, "condor_rm 1").returncode == 0
        log_now = (job_dir / "job.log").read_text()
        assert "Job was aborted" not in log_now  # written when the job leaves the queue
        for child in job_dir.iterdir():
            child.unlink()
        job_dir.rmdir()
        _wait_gone(work, env, 1)
        assert sorted(p.name for p in job_dir.iterdir()) == ["job.log"]
        text = (job_dir / "job.log").read_text()
        assert text.startswith("006 (001.000.000)") or text.startswith("004 (001.000.000)")
        assert "Job was evicted" in text and "Job was aborted" in text
    finally:
        _drain(work, env)


def test_removed_idle_job_gets_its_abort_event_at_once(tmp_path: Path) -> None:
    work, env = _standin(tmp_path, CONDOR_STANDIN_START_DELAY="60")
    (work / "idle.sub").write_text("executable = /bin/true\nlog = idle.log\nqueue\n")
    try:
        assert _sh(work, env, "condor_submit -terse idle.sub").returncode == 0
        assert _sh(work, env, "condor_rm 1").returncode == 0
        assert "Job was aborted" in (work / "idle.log").read_text()
        assert _sh(work, env, "condor_q -af ClusterId").stdout == ""
    finally:
        _drain(work, env)


def test_history_scanlimit_reads_only_the_newest_records(tmp_path: Path) -> None:
    """``condor_history -scanlimit N`` looks at the N newest records (oldest with -forwards)."""
    work, env = _standin(tmp_path, CONDOR_STANDIN_START_DELAY="0.05")
    (work / "t.sub").write_text("executable = /bin/true\nlog = t.log\nqueue\n")
    try:
        for _ in range(3):
            assert _sh(work, env, "condor_submit t.sub").returncode == 0
            assert _sh(work, env, "condor_wait -wait 20 t.log").returncode == 0
        newest = _sh(work, env, "condor_history -scanlimit 2 -af ClusterId")
        assert newest.stdout.split() == ["3", "2"]
        beyond = _sh(
            work, env, "condor_history -scanlimit 2 -constraint 'ClusterId == 1' -af ProcId"
        )
        assert (beyond.returncode, beyond.stdout) == (0, "")
        oldest = _sh(work, env, "condor_history -forwards -scanlimit 1 -af ClusterId")
        assert oldest.stdout.split() == ["1"]
        limited = _sh(work, env, "condor_history -scanlimit 10 -limit 1 -af ClusterId")
        assert limited.stdout.split() == ["3"]
    finally:
        _drain(work, env)
