"""Condor sweeps: create_jobs + execute_all send one remote command per scheduler (issue 18).

Real loopback sshd, the HTCondor stand-in, remote commands counted where the
SSH session sends them (:data:`tethys_compute.counters.remote_calls`).  Each
test fails on the one-by-one path (``job.execute()`` per job: a command or
more per job, and the first refused job stops the rest).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import tethys_compute.condor.submit_many as submit_many_module
from tests.fixtures.sshd import SSHD
from tests.jobs.conftest import status_of, wait_for
from tests.test_ssh import make_target
from tethys_compute.condor.client import SubmitResult
from tethys_compute.condor.submit_many import Submission, submit_many
from tethys_compute.counters import remote_calls
from tethys_compute.exceptions import CondorSubmitError, InvalidArgumentError
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorJob, CondorScheduler, CondorWorkflow, Job
from tethys_compute.models.condor_wrapper import URL_FILE
from tethys_compute.ssh import SSHHost

pytestmark = [pytest.mark.sshd, pytest.mark.urls("tests.jobs.urls")]

HELD = {"executable": "/bin/true", "hold": True}


def sweep(
    manager: JobManager, user: Any, scheduler: CondorScheduler, entries: list[dict[str, Any]]
) -> list[CondorJob]:
    jobs = manager.create_jobs("sweep_{id}", user, "CONDOR", entries, scheduler=scheduler)
    assert all(isinstance(job, CondorJob) for job in jobs)
    return jobs  # type: ignore[return-value]


def execute_counted(manager: JobManager, jobs: list[CondorJob]) -> Any:
    with remote_calls.measure() as seen:
        manager.execute_all(jobs)
    return seen


def payload(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1].split(":")[0]


def forget(scheduler: CondorScheduler, jobs: list[CondorJob]) -> None:
    """Empty the stand-in's queue and the jobs' directories in two commands, drop the rows.

    (The fixture's teardown would remove the clusters one ``condor_rm`` each.)
    """
    host = scheduler.get_remote_host()
    host.run(["condor_rm", "-all"])
    dirs = [
        d
        for d in CondorJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list(
            "remote_dir", flat=True
        )
        if d
    ]
    if dirs:
        host.run(["rm", "-rf", "--", *dirs])
    Job.objects.filter(pk__in=[j.pk for j in jobs]).delete()


@pytest.mark.slow
@pytest.mark.django_db
def test_20_and_200_condor_jobs_take_one_remote_command_each_and_refresh_in_one(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    host = condor_scheduler.get_remote_host()
    host.run(["true"])  # the connection is open before counting
    counts = {}
    every: list[CondorJob] = []
    for size in (20, 200):
        jobs = sweep(manager, user, condor_scheduler, [{"submit_description": HELD}] * size)
        seen = execute_counted(manager, jobs)
        counts[size] = (seen.commands("ssh"), seen.transfers("ssh"), seen.connections())
        every += jobs
    assert counts == {20: (1, 0, 0), 200: (1, 0, 0)}
    stored = list(CondorJob.objects.filter(pk__in=[j.pk for j in every]))
    assert {j.status_code for j in stored} == {JobStatus.SUBMITTED}
    assert len({j.cluster_id for j in stored}) == 220 and None not in {j.cluster_id for j in stored}
    assert len({j.remote_dir for j in stored}) == 220
    assert {j.num_jobs for j in stored} == {1}
    # The objects in hand hold what was stored (as after execute()).
    assert {(j.pk, j.cluster_id, j.status) for j in every} == {
        (j.pk, j.cluster_id, "Submitted") for j in stored
    }
    # HTCondor has one cluster per job, held as described.
    answer = host.run(["condor_q", "-af", "ClusterId", "ProcId", "JobStatus"])
    queued = {tuple(map(int, line.split())) for line in answer.stdout.splitlines()}
    assert queued == {(j.cluster_id, 0, 5) for j in stored}
    with remote_calls.measure() as refreshed:
        report = refresh_jobs(timeout=60)
    assert not report.failed, report.summary()
    assert refreshed.commands("ssh") == 1
    assert set(
        Job.objects.filter(pk__in=[j.pk for j in every]).values_list("status_code", flat=True)
    ) == {JobStatus.PAUSED}
    forget(condor_scheduler, every)


@pytest.mark.django_db(transaction=True)
def test_batch_jobs_push_and_refresh_each_on_its_own(
    live_server: Any, tmp_path: Path, user: Any, condor_scheduler: CondorScheduler
) -> None:
    manager = JobManager("test_app", tmp_path / "workspace", callback_base_url=live_server.url)
    entries = [
        {
            "submit_description": {
                "executable": "/bin/sh",
                "arguments": ["-c", f"echo {n} > result.txt; echo out {n}"],
                "output": "out.txt",
                "log": "job.log",
            },
            "output_files": ["result.txt"],
        }
        for n in range(6)
    ]
    jobs = sweep(manager, user, condor_scheduler, entries)
    seen = execute_counted(manager, jobs)
    assert seen.commands("ssh") == 1 and seen.transfers("ssh") == 0
    # Each job has its own wrapper and callback URL, readable by the account only.
    host = condor_scheduler.get_remote_host()
    files = [f"{job.remote_dir}/{URL_FILE}" for job in jobs]
    modes = host.run(["stat", "-c", "%a", *files]).stdout.split()
    assert modes == ["600"] * 6
    urls = host.run(["sh", "-c", 'for f; do cat "$f"; echo; done', "sh", *files]).stdout.split()
    # A token is "payload:time:signature"; the payload names the job and its run's key.
    expected = [str(job.get_callback_url()) for job in jobs]
    assert [payload(u) for u in urls] == [payload(u) for u in expected]
    assert len({payload(u) for u in urls}) == 6
    # The wrappers push: every job completes without a refresh.
    ids = [job.pk for job in jobs]
    wait_for(
        lambda: (
            set(Job.objects.filter(pk__in=ids).values_list("status_code", flat=True))
            == {JobStatus.COMPLETE}
        ),
        what="six pushed Completes",
    )
    for n, job in enumerate(jobs):
        job.refresh_from_db()
        assert set(job.callback_seqs["seq"]) == {"proc-0"}
        assert job.get_logs()["stdout"] == f"out {n}\n"
    # The refresher finds each in HTCondor's history by its own cluster, in one command.
    Job.objects.filter(pk__in=ids).update(status_code=JobStatus.RUNNING)
    with remote_calls.measure() as refreshed:
        report = refresh_jobs(timeout=30)
    assert not report.failed and refreshed.commands("ssh") == 1
    assert {status_of(job) for job in jobs} == {JobStatus.COMPLETE}


@pytest.mark.django_db
def test_a_refused_job_is_error_and_the_others_are_submitted(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler, tmp_path: Path
) -> None:
    data = tmp_path / "in.txt"
    data.write_text("input\n")
    entries: list[dict[str, Any]] = [
        {"submit_description": HELD, "input_files": [str(data)]} for _ in range(5)
    ]
    entries[1] = {"submit_description": "executable = ./no-such-program\nhold = true\n"}
    entries[3] = {"submit_description": HELD, "input_files": [str(tmp_path / "gone.txt")]}
    (tmp_path / "gone.txt").write_text("soon gone\n")
    jobs = sweep(manager, user, condor_scheduler, entries)
    (tmp_path / "gone.txt").unlink()
    condor_scheduler.get_remote_host().run(["true"])
    with remote_calls.measure() as seen, pytest.raises(CondorSubmitError) as raised:
        manager.execute_all(jobs)
    assert seen.commands("ssh") == 1
    assert f"2 of 5 Condor jobs could not be submitted (ids {jobs[1].pk}, {jobs[3].pk})" in str(
        raised.value
    )
    stored = {j.pk: j for j in CondorJob.objects.filter(pk__in=[j.pk for j in jobs])}
    refused, missing = stored[jobs[1].pk], stored[jobs[3].pk]
    assert refused.status_code == JobStatus.ERROR and refused.cluster_id is None
    assert refused.status_message.startswith("Submission failed: condor_submit on")
    assert "ERROR: Can't access executable file ./no-such-program" in refused.status_message
    assert missing.status_code == JobStatus.ERROR and missing.cluster_id is None
    assert "gone.txt' does not exist on this host" in missing.status_message
    good = [stored[jobs[i].pk] for i in (0, 2, 4)]
    assert {j.status_code for j in good} == {JobStatus.SUBMITTED}
    assert len({j.cluster_id for j in good}) == 3 and None not in {j.cluster_id for j in good}
    host = condor_scheduler.get_remote_host()
    for job in good:
        assert host.run(["cat", f"{job.remote_dir}/in.txt"]).stdout == "input\n"
    # The refused job's directory was removed again; the failure was recorded on the job.
    assert jobs[1].status == "Error" and jobs[3].status == "Error"


@pytest.mark.django_db
def test_pause_resume_and_stop_of_one_batch_job_touch_only_it(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    sleeper = {"executable": "/bin/sleep", "arguments": ["30"]}
    jobs = sweep(manager, user, condor_scheduler, [{"submit_description": sleeper}] * 3)
    assert execute_counted(manager, jobs).commands("ssh") == 1
    first, second, third = jobs
    host = condor_scheduler.get_remote_host()

    def condor_states() -> dict[int, int]:
        answer = host.run(["condor_q", "-af", "ClusterId", "JobStatus"])
        pairs = (line.split() for line in answer.stdout.splitlines())
        return {int(c): int(s) for c, s in pairs}

    wait_for(lambda: set(condor_states().values()) == {2}, what="the three jobs running (4 slots)")
    first.pause()
    states = condor_states()
    assert states[first.cluster_id] == 5  # held
    assert states[second.cluster_id] == states[third.cluster_id] == 2
    second.stop()
    states = condor_states()
    assert states.get(second.cluster_id, 3) == 3  # removed (or already gone)
    assert states[first.cluster_id] == 5 and states[third.cluster_id] == 2
    first.resume()
    assert condor_states()[first.cluster_id] in (1, 2)
    refresh_jobs(timeout=30)
    assert status_of(second) == JobStatus.ABORTED
    assert status_of(third) == JobStatus.RUNNING
    assert status_of(first) in (JobStatus.SUBMITTED, JobStatus.RUNNING)
    first.stop()
    third.stop()


@pytest.mark.django_db
def test_a_workflow_in_the_batch_is_executed_on_its_own(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    jobs: list[Any] = sweep(manager, user, condor_scheduler, [{"submit_description": HELD}] * 3)
    workflow = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=condor_scheduler)
    assert isinstance(workflow, CondorWorkflow)
    workflow.add_node("only", {"executable": "/bin/true", "hold": True})
    condor_scheduler.get_remote_host().run(["true"])
    with remote_calls.measure() as seen:
        manager.execute_all([*jobs, workflow])
    alone = seen.commands("ssh") - 1  # the three jobs: one command
    assert alone >= 1  # the workflow's own submission (condor_submit_dag)
    workflow.refresh_from_db()
    assert workflow.status == "Submitted" and workflow.cluster_id is not None
    clusters = {job.cluster_id for job in CondorJob.objects.filter(pk__in=[j.pk for j in jobs])}
    assert len(clusters) == 3 and workflow.cluster_id not in clusters
    # Three jobs alone cost the same one command.
    more = sweep(manager, user, condor_scheduler, [{"submit_description": HELD}] * 3)
    assert execute_counted(manager, more).commands("ssh") == 1


@pytest.mark.django_db
def test_submit_many_over_the_sh_loop_uploads_the_archive_as_stdin(
    condor_server: SSHD, tmp_path: Path
) -> None:
    """Without python3 on the far side, stdin over 2 KiB goes by SFTP: still one command."""
    host = SSHHost(make_target(condor_server, driver="sh"))
    script = tmp_path / "run.sh"
    script.write_text('#!/bin/sh\necho "$1" > "$2"\n')
    script.chmod(0o755)
    blob = bytes(range(256)) * 64
    jobs = [
        Submission(
            {"executable": "run.sh", "arguments": [f"job {n}", "mark.txt"], "hold": True},
            {"run.sh": str(script), "blob.bin": blob, "deep/er/note.txt": b"note"},
            ("blob.bin",),
        )
        for n in range(3)
    ]
    jobs.insert(1, Submission({"executable": "/bin/true"}, [str(tmp_path / "absent")]))
    host.run(["true"])
    with remote_calls.measure() as seen:
        results = submit_many(host, jobs)
    assert seen.commands("ssh") == 1 and seen.transfers("ssh") == 0
    assert isinstance(results[1], InvalidArgumentError)
    done = [r for r in results if isinstance(r, SubmitResult)]
    assert len(done) == 3 and len({r.cluster_id for r in done}) == 3
    files = ["run.sh", "blob.bin", "deep/er/note.txt", "job.sub"]
    for result in done:
        listing = host.run(["stat", "-c", "%a %n", *files], cwd=result.remote_dir)
        assert listing.stdout.split("\n")[:4] == [
            "744 run.sh",  # u+x, as a lone submission does
            "600 blob.bin",
            "644 deep/er/note.txt",
            "644 job.sub",
        ]
        digest = host.run(["sha256sum", "blob.bin"], cwd=result.remote_dir).stdout.split()[0]
        assert digest == hashlib.sha256(blob).hexdigest()
    host.run(["condor_rm", *[str(r.cluster_id) for r in done]])
    host.run(["rm", "-rf", "--", *[r.remote_dir for r in done]])
    host.close()


@pytest.mark.django_db
def test_a_batch_past_the_size_bound_goes_in_several_commands(
    condor_scheduler: CondorScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command carries at most MAX_COMMAND_BYTES of files (held in memory on both ends)."""
    monkeypatch.setattr(submit_many_module, "MAX_COMMAND_BYTES", 3000)
    host = condor_scheduler.get_remote_host()
    host.run(["true"])
    jobs = [Submission(HELD, {"data.bin": bytes([n]) * 1000}) for n in range(5)]
    with remote_calls.measure() as seen:
        results = submit_many(host, jobs)
    assert seen.commands("ssh") == 3  # two jobs (about 2,050 bytes) per command
    done = [r for r in results if isinstance(r, SubmitResult)]
    assert len({r.cluster_id for r in done}) == 5
    for n, result in enumerate(done):
        assert host.run(
            ["od", "-An", "-tu1", "-N1", f"{result.remote_dir}/data.bin"]
        ).stdout.split() == [str(n)]
    host.run(["condor_rm", *[str(r.cluster_id) for r in done]])
    host.run(["rm", "-rf", "--", *[r.remote_dir for r in done]])
