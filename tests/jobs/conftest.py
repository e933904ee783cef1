"""Fixtures of the jobs tests: a private sshd + HTCondor stand-in, users, a job manager.

The Condor scheduler is a real loopback ``sshd`` (its own, so a test may stop
it) whose account runs the HTCondor stand-in with a private state directory
and four slots; jobs really run as local processes.  The Dask scheduler is
the session's real dask processes (``tethys_dask_scheduler``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.sshd import SSHD, start_sshd
from tests.test_condor_e2e import make_scheduler
from tethys_compute import condor
from tethys_compute.jobs.manager import JobManager
from tethys_compute.models import CondorJob, CondorScheduler, CondorWorkflow, Job

#: Upper bound of every wait for a status in these tests.
WAIT = 30.0


def start_condor_sshd(workdir: Path, restore_password: str | None = None) -> SSHD:
    """An sshd whose account runs the stand-in with a private queue (4 slots, fast start)."""
    state = workdir / "condor"
    server = start_sshd(
        workdir / "sshd",
        extra_env={
            "CONDOR_STANDIN_DIR": str(state),
            "CONDOR_STANDIN_SLOTS": "4",
            "CONDOR_STANDIN_START_DELAY": "0.05",
            "CONDOR_STANDIN_POLL": "0.05",
        },
    )
    # The account exists now (start_sshd creates it): give it the stand-in's queue.
    state.mkdir(parents=True, exist_ok=True)
    shutil.chown(state, user=server.username)
    if restore_password:
        # start_sshd() gave the shared test account a new password; the session
        # sshd's tests log in with the old one.
        subprocess.run(
            ["chpasswd"],
            input=f"{server.username}:{restore_password}\n",
            text=True,
            check=True,
            timeout=30,
        )
        server.password = restore_password
    return server


@pytest.fixture(scope="session")
def condor_sshd(sshd: SSHD) -> Iterator[SSHD]:
    """The jobs tests' own sshd + stand-in (started after, and compatible with, ``sshd``)."""
    workdir = Path(tempfile.mkdtemp(prefix="tethys-jobs-"))
    workdir.chmod(0o755)
    try:
        server = start_condor_sshd(workdir, restore_password=sshd.password)
    except Exception as exc:  # noqa: BLE001 - report why, never skip
        pytest.fail(f"Cannot start the jobs tests' sshd: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def condor_server(condor_sshd: SSHD) -> SSHD:
    if not condor_sshd.running:
        condor_sshd.start()
    return condor_sshd


@pytest.fixture
def condor_scheduler(condor_server: SSHD, db: None) -> Iterator[CondorScheduler]:
    scheduler = make_scheduler(condor_server, "condor")
    yield scheduler
    remove_condor_jobs()


def remove_condor_jobs() -> None:
    """Remove what the test left in the stand-in's queue (never block the slots)."""
    by_scheduler: dict[int, list[int]] = {}
    for job in Job.objects.filter(scheduler__isnull=False).select_subclasses():
        if isinstance(job, (CondorJob, CondorWorkflow)) and job.cluster_id:
            by_scheduler.setdefault(job.scheduler_id, []).append(job.cluster_id)  # type: ignore[arg-type]
    for scheduler_id, clusters in by_scheduler.items():
        scheduler = CondorScheduler.objects.filter(pk=scheduler_id).first()
        if scheduler is None:
            continue
        try:
            condor.remove(scheduler.get_remote_host(), [str(c) for c in clusters], timeout=10)
        except Exception:  # noqa: BLE001, S110 - best effort at teardown
            pass


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", password="pw-alice")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", password="pw-bob")


@pytest.fixture
def manager(tmp_path: Path) -> JobManager:
    return JobManager("test_app", tmp_path / "workspace")


def wait_for(
    predicate: Callable[[], Any], timeout: float = WAIT, step: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(step)


def status_of(job: Job) -> str:
    return Job.objects.values_list("status_code", flat=True).get(pk=job.pk)


@pytest.fixture
def dask_scheduler(tethys_dask_scheduler: Any) -> Iterator[Any]:
    """The session's Dask scheduler record; its jobs are stopped and deleted afterwards.

    (A scheduler with active jobs cannot be deleted, and the record's own
    fixture deletes it.)
    """
    yield tethys_dask_scheduler
    for job in Job.objects.filter(scheduler=tethys_dask_scheduler).select_subclasses():
        job.delete()
