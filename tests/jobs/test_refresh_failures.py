"""The refresher when schedulers fail: SSH dropped mid-refresh, a scheduler down and back."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from tests.fixtures.sshd import SSHD
from tests.jobs.conftest import status_of, wait_for
from tethys_compute.dask_client import close_clients
from tethys_compute.dask_processes import LocalDaskCluster
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.refresh import refresh_jobs
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, DaskScheduler, Job

pytestmark = [pytest.mark.sshd, pytest.mark.django_db(transaction=True)]


def condor_sleeper(manager: JobManager, user: Any, scheduler: CondorScheduler) -> Job:
    job = manager.create_job(
        "sleeper",
        user,
        "CONDOR",
        scheduler=scheduler,
        submit_description="executable = /bin/sleep\narguments = 30\n",
    )
    job.execute()
    return job


def drop_ssh_when_condor_runs(server: SSHD, dropped: threading.Event) -> None:
    """Stop sshd (and its sessions) as soon as a condor_q/condor_history of the account runs."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for proc in psutil.process_iter(["username", "cmdline"]):
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if proc.info.get("username") == server.username and (
                "condor_q" in cmdline or "condor_history" in cmdline
            ):
                server.stop()
                dropped.set()
                return
        time.sleep(0.002)


def test_ssh_dropped_mid_refresh_keeps_statuses_then_recovers(
    condor_server: SSHD, condor_scheduler: CondorScheduler, manager: JobManager, user: Any
) -> None:
    job = condor_sleeper(manager, user, condor_scheduler)
    wait_for(lambda: refresh_jobs() and status_of(job) == JobStatus.RUNNING, step=0.2)
    good = Job.objects.get(pk=job.pk).last_refresh_ok_at
    assert good is not None

    dropped = threading.Event()
    watcher = threading.Thread(target=drop_ssh_when_condor_runs, args=(condor_server, dropped))
    watcher.start()
    started = time.monotonic()
    report = refresh_jobs(timeout=10)
    watcher.join(timeout=30)
    assert not watcher.is_alive(), "the watcher never saw its condor command end"
    assert dropped.is_set(), "the refresh ran no condor command"
    assert time.monotonic() - started < 20  # bounded
    assert [s.ok for s in report.schedulers] == [False]
    after = Job.objects.get(pk=job.pk)
    assert after.status_code == JobStatus.RUNNING  # as it was
    assert after.last_refresh_ok_at == good
    assert "unreachable" in after.refresh_error

    # While sshd is down, refreshing stays bounded and changes nothing.
    report = refresh_jobs(timeout=5)
    assert report.failed and status_of(job) == JobStatus.RUNNING

    condor_server.start()
    report = refresh_jobs(timeout=10)
    assert not report.failed, report.summary()
    after = Job.objects.get(pk=job.pk)
    assert after.refresh_error == "" and after.last_refresh_ok_at > good
    assert after.status_code == JobStatus.RUNNING
    job.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def flaky_dask(db: None) -> Iterator[tuple[DaskScheduler, dict[str, LocalDaskCluster]]]:
    """A Dask scheduler on a fixed port that a test may stop and start again."""
    port = free_port()
    holder = {"cluster": LocalDaskCluster(1, 1, dashboard=False, port=port).start()}
    record = DaskScheduler.objects.create(name="flaky", host=f"tcp://127.0.0.1:{port}", timeout=3)
    try:
        yield record, holder
    finally:
        for job in Job.objects.filter(scheduler=record).select_subclasses():
            job.delete(clean=False)
        close_clients(record.host)
        holder["cluster"].stop()


@pytest.mark.dask
def test_scheduler_down_during_a_refresh_and_back(
    condor_scheduler: CondorScheduler,
    flaky_dask: tuple[DaskScheduler, dict[str, LocalDaskCluster]],
    manager: JobManager,
    user: Any,
) -> None:
    dask_record, holder = flaky_dask
    dask_job = manager.create_job(
        "nap", user, "DASK", scheduler=dask_record, function="time.sleep", args=[60]
    )
    dask_job.execute()
    condor_job = manager.create_job(
        "quick",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description="executable = /bin/true\n",
    )
    condor_job.execute()
    wait_for(lambda: refresh_jobs() and status_of(dask_job) == JobStatus.RUNNING, step=0.1)
    good = Job.objects.get(pk=dask_job.pk).last_refresh_ok_at

    holder["cluster"].stop()  # the Dask scheduler goes down
    started = time.monotonic()

    def condor_done() -> bool:
        report = refresh_jobs(timeout=3)
        assert {s.name: s.ok for s in report.schedulers}.get("flaky") is False
        return status_of(condor_job) == JobStatus.COMPLETE

    # The Condor scheduler's jobs still refresh while the Dask one is down.
    wait_for(condor_done, step=0.2, what="Condor job refreshed while Dask is down")
    assert time.monotonic() - started < 25
    kept = Job.objects.get(pk=dask_job.pk)
    assert kept.status_code == JobStatus.RUNNING and kept.last_refresh_ok_at == good
    assert "'flaky' unreachable" in kept.refresh_error

    # It comes back (a new scheduler process at the same address): it answers again,
    # and it has lost the task, which the job now says.
    holder["cluster"] = LocalDaskCluster(
        1, 1, dashboard=False, port=int(dask_record.host.rsplit(":", 1)[1])
    ).start()
    report = refresh_jobs(timeout=5)
    assert not report.failed, report.summary()
    back = Job.objects.get(pk=dask_job.pk)
    assert back.refresh_error == "" and back.last_refresh_ok_at > good
    assert back.status_code == JobStatus.ERROR and "no longer knows" in back.status_message


def test_results_wait_while_the_scheduler_is_unreachable(
    condor_server: SSHD, condor_scheduler: CondorScheduler, manager: JobManager, user: Any
) -> None:
    from tethys_compute.exceptions import SchedulerConnectionError
    from tethys_compute.jobs.refresh import process_ready_results

    job = manager.create_job(
        "with outputs",
        user,
        "CONDOR",
        scheduler=condor_scheduler,
        submit_description={"executable": "/bin/sh", "arguments": ["-c", "echo 7 > answer.txt"]},
        output_files=["answer.txt"],
        process_results_function="tests.jobs.results.mark_processed",
    )
    job.execute()
    wait_for(lambda: refresh_jobs() and status_of(job) == JobStatus.RESULTS_READY, step=0.1)
    condor_server.stop()
    ready = Job.objects.get_subclass(pk=job.pk)
    with pytest.raises(SchedulerConnectionError):
        ready.process_results()
    assert status_of(job) == JobStatus.RESULTS_READY  # not Error: it is tried again later
    condor_server.start()
    assert process_ready_results() == 1
    done = Job.objects.get(pk=job.pk)
    assert done.status_code == JobStatus.COMPLETE
    assert done.extended_properties["files"] == ["answer.txt"]
