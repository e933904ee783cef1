"""Condor jobs and workflows end to end: real sshd, the HTCondor stand-in, real pushes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import status_of, wait_for
from tethys_compute.exceptions import CondorSubmitError, InvalidStatusTransition
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorJob, CondorScheduler, CondorWorkflow, Job

pytestmark = [pytest.mark.sshd, pytest.mark.urls("tests.jobs.urls")]


@pytest.fixture
def pushing_manager(live_server: Any, tmp_path: Path) -> JobManager:
    return JobManager("test_app", tmp_path / "workspace", callback_base_url=live_server.url)


def echo_job(manager: JobManager, user: Any, scheduler: CondorScheduler, **extra: Any) -> Job:
    return manager.create_job(
        "echo",
        user,
        "CONDOR",
        scheduler=scheduler,
        submit_description={
            "executable": "/bin/sh",
            "arguments": ["-c", "echo hello from condor; echo oops >&2; echo 42 > result.txt"],
            "output": "out.txt",
            "error": "err.txt",
            "log": "job.log",
        },
        **extra,
    )


@pytest.mark.django_db(transaction=True)
def test_condor_job_pushes_running_and_complete_without_polling(
    pushing_manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = echo_job(
        pushing_manager,
        user,
        condor_scheduler,
        output_files=["result.txt"],
        process_results_function="tests.jobs.results.mark_processed",
    )
    job.execute()
    assert job.cluster_id and job.remote_dir
    # No refresher runs: only the wrapper's pushes can move the status.
    wait_for(lambda: status_of(job) == JobStatus.RESULTS_READY, what="pushed Results-Ready")
    job.refresh_from_db()
    assert job.start_time is not None and job.completion_time is not None
    assert set(job.callback_seqs["seq"]) == {"proc-0"}
    job.process_results()
    assert job.status == "Complete"
    assert job.extended_properties["processed"] is True
    assert "result.txt" in job.extended_properties["files"]
    logs = job.get_logs()
    assert logs["stdout"] == "hello from condor\n" and logs["stderr"] == "oops\n"
    assert CondorJob.objects.get(pk=job.pk).logs == logs  # cached once finished
    job.clean()
    assert job.remote_dir == ""


@pytest.mark.django_db(transaction=True)
def test_failing_condor_job_is_error_with_exit_code(
    pushing_manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = pushing_manager.create_job(
        "fails",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={"executable": "/bin/sh", "arguments": ["-c", "exit 3"]},
    )
    job.execute()
    wait_for(lambda: status_of(job) == JobStatus.ERROR, what="pushed Error")
    job.refresh_from_db()
    assert "3" in job.status_message


def test_condor_job_without_pushes_is_found_by_the_refresher(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = echo_job(manager, user, condor_scheduler)
    job.execute()
    assert job.status == "Submitted"

    def refreshed_complete() -> bool:
        refresh_jobs()
        return status_of(job) == JobStatus.COMPLETE

    wait_for(refreshed_complete, step=0.2, what="refresh to Complete")
    job.refresh_from_db()
    assert job.last_refresh_ok_at is not None and job.refresh_error == ""


def test_failed_submit_is_error_with_the_reason(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = manager.create_job(
        "bad",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description="executable = ./no-such-program\n",
    )
    with pytest.raises(CondorSubmitError):
        job.execute()
    job.refresh_from_db()
    assert job.status == "Error"
    assert job.status_message.startswith("Submission failed:")
    assert job.execute_time is None


def test_pause_resume_stop_and_resubmit(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = manager.create_job(
        "sleeper",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={"executable": "/bin/sleep", "arguments": ["30"]},
    )
    job.execute()
    job.pause()
    assert job.status == "Paused"

    def held() -> bool:
        refresh_jobs()
        return (
            status_of(job) == JobStatus.PAUSED
            and "Held" in Job.objects.get(pk=job.pk).status_message
        )

    wait_for(held, step=0.2, what="refresh sees the hold")
    job.resume()
    assert job.status == "Submitted"
    wait_for(lambda: refresh_jobs() and status_of(job) == JobStatus.RUNNING, step=0.2)
    job.stop()
    assert job.status == "Aborted"
    refresh_jobs()  # the queue says removed: still Aborted
    assert status_of(job) == JobStatus.ABORTED
    with pytest.raises(InvalidStatusTransition):
        job.pause()
    first_cluster = job.cluster_id
    job.resubmit()
    assert job.status == "Submitted" and job.cluster_id != first_cluster
    job.stop()


def test_workflow_runs_its_nodes_in_order(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    workflow = manager.create_job("dag", user, "CONDORWORKFLOW", scheduler=condor_scheduler)
    assert isinstance(workflow, CondorWorkflow)
    first = workflow.add_node(
        "first",
        {"executable": "/bin/sh", "arguments": ["-c", "echo one > one.txt"], "output": "a.out"},
    )
    workflow.add_node(
        "second",
        {"executable": "/bin/sh", "arguments": ["-c", "cat one.txt"], "output": "b.out"},
        parents=[first],
    )
    workflow.execute()

    def done() -> bool:
        refresh_jobs()
        return status_of(workflow) in (JobStatus.COMPLETE, JobStatus.ERROR)

    wait_for(done, step=0.3, what="workflow finished")
    workflow.refresh_from_db()
    assert workflow.status == "Complete", workflow.status_message
    nodes = {n.name: n for n in workflow.node_set.all()}
    assert {n.status_code for n in nodes.values()} == {JobStatus.COMPLETE}
    assert nodes["first"].cluster_id and nodes["second"].cluster_id
    assert workflow.get_logs()["nodes"]["second"]["stdout"] == "one\n"


@pytest.mark.django_db(transaction=True)
def test_procs_of_one_cluster_report_each_and_one_failure_is_error(
    pushing_manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = pushing_manager.create_job(
        "procs",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={
            "executable": "/bin/sh",
            "arguments": ["-c", "exit $(Process)"],
            "queue": 3,
        },
    )
    job.execute()
    assert job.num_jobs == 3
    wait_for(lambda: status_of(job) == JobStatus.ERROR, what="all three procs reported")
    job.refresh_from_db()
    assert job.callback_seqs["exit"] == {"proc-0": 0, "proc-1": 1, "proc-2": 2}
    assert "1 (proc-1)" in job.status_message and "2 (proc-2)" in job.status_message
    # The batched poll agrees (and, the job being final, changes nothing).
    assert refresh_jobs().changed == 0


def test_reading_status_never_contacts_the_scheduler(
    manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    import socket
    from unittest import mock

    job = echo_job(manager, user, condor_scheduler)
    job.execute()
    with mock.patch.object(socket.socket, "connect", autospec=True) as connect:
        listed = list(manager.list_jobs(user=user))
        assert [j.status for j in listed] == ["Submitted"]
        assert manager.get_job(job.pk, user=user).status == "Submitted"
        job.update_status()  # Tethys' name: a no-op here, refreshing is batched
    assert not connect.called


@pytest.mark.django_db(transaction=True)
def test_workflow_nodes_push_their_statuses(
    pushing_manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    workflow = pushing_manager.create_job(
        "pushing dag", user, "CONDORWORKFLOW", scheduler=condor_scheduler
    )
    assert isinstance(workflow, CondorWorkflow)
    first = workflow.add_node("first", {"executable": "/bin/echo", "arguments": ["1"]})
    workflow.add_node("second", {"executable": "/bin/echo", "arguments": ["2"]}, parents=[first])
    workflow.execute()
    # No refresher: the nodes' wrappers report, and the last one completes the workflow.
    wait_for(lambda: status_of(workflow) == JobStatus.COMPLETE, what="pushed Complete")
    nodes = {n.name: n for n in workflow.node_set.all()}
    assert {n.status_code for n in nodes.values()} == {JobStatus.COMPLETE}
    assert {n.exit_code for n in nodes.values()} == {0}


@pytest.mark.django_db(transaction=True)
def test_wrapped_job_with_file_transfer_and_an_uploaded_script(
    pushing_manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    job = pushing_manager.create_job(
        "transfer",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={
            "executable": "run.sh",
            "arguments": ["it worked"],
            "should_transfer_files": "YES",
            "when_to_transfer_output": "ON_EXIT",
            "output": "out.txt",
        },
        input_files={"run.sh": b'#!/bin/sh\necho "$1"\n'},
    )
    job.execute()
    # The executable's exit is pushed, but the output is still on its way back.
    wait_for(
        lambda: "transferring the output" in Job.objects.get(pk=job.pk).status_message,
        what="pushed exit",
    )
    assert status_of(job) == JobStatus.RUNNING
    # HTCondor says when the transfer is done: the refresher records Complete.
    wait_for(lambda: refresh_jobs() and status_of(job) == JobStatus.COMPLETE, step=0.1)
    assert job.get_logs()["stdout"] == "it worked\n"


@pytest.mark.django_db(transaction=True)
def test_condorpy_job_as_the_submit_description(
    pushing_manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    import condorpy

    described = condorpy.Job("hello", executable="/bin/echo", arguments="hi there")
    described.set("output", "out.txt")
    job = pushing_manager.create_job(
        "condorpy", user, "CONDORJOB", scheduler=condor_scheduler, condorpy_job=described
    )
    assert job.submit_description == {
        "executable": "/bin/echo",
        "arguments": "hi there",
        "output": "out.txt",
        "queue": 1,
    }
    job.execute()  # plain-word arguments: wrapped, so it pushes
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what="pushed Complete")
    assert job.get_logs()["stdout"] == "hi there\n"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("output", "error"),
    [("/etc/hostname", "err.txt"), ("out.txt", "../../../../../../etc/passwd")],
)
def test_get_logs_never_reads_outside_the_job_directory(
    manager: JobManager,
    user: Any,
    condor_scheduler: CondorScheduler,
    output: str,
    error: str,
) -> None:
    from tethys_compute.exceptions import InvalidArgumentError

    host = condor_scheduler.get_remote_host()
    remote_dir = host.make_temp_dir(prefix="tethys-logs-test-")
    host.put_bytes(b"inside\n", remote_dir + "/out.txt")
    job = manager.create_job(
        "nosy",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={"executable": "/bin/true", "output": output, "error": error},
    )
    CondorJob.objects.filter(pk=job.pk).update(remote_dir=remote_dir, status_code="COM")
    job.refresh_from_db()
    with pytest.raises(InvalidArgumentError) as info:
        job.get_logs()
    bad = output if output.startswith("/") else error
    assert repr(bad) in str(info.value) and "job's own directory" in str(info.value)
    assert CondorJob.objects.get(pk=job.pk).logs is None  # nothing read, nothing stored
    host.remove_tree(remote_dir)


@pytest.mark.django_db(transaction=True)
def test_callback_url_is_in_an_owner_only_file_not_in_the_class_ad(
    pushing_manager: JobManager, user: Any, condor_scheduler: CondorScheduler
) -> None:
    """Arguments and environment are in the ClassAd every pool user may query."""
    job = echo_job(pushing_manager, user, condor_scheduler)
    job.execute()
    url = job.get_callback_url()
    assert url is not None
    token = url.rstrip("/").rsplit("/", 1)[1]
    wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what="pushed Complete")
    host = condor_scheduler.get_remote_host()
    ad = host.run(["condor_history", str(job.cluster_id), "-af", "Arguments", "Environment"])
    assert ad.ok and "tethys_job_wrapper.sh" in ad.stdout
    assert token not in ad.stdout and token.split(":")[0] not in ad.stdout
    mode = host.run(["stat", "-c", "%a", f"{job.remote_dir}/tethys_job_callback"])
    assert mode.stdout.strip() == "600"
