"""The ``htcondor`` provider: Dask workers as HTCondor jobs, reached over SSH.

Real parts only: a loopback sshd whose account runs the HTCondor stand-in
(each worker job is a real local ``dask worker`` process), a ``dask
scheduler`` started over SSH on that "submit host", and the portal's client
reaching it through the SSH tunnel.  At most 3 workers, 1 thread each.
"""

from __future__ import annotations

import operator
import os
import secrets
import shutil
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.clusters.test_ssh_provider import remote_python
from tests.fixtures.sshd import SSHD
from tests.jobs.conftest import start_condor_sshd, status_of, wait_for
from tests.test_condor_e2e import make_scheduler
from tethys_compute import condor
from tethys_compute.clusters import service
from tethys_compute.clusters.manager import get_cluster_manager
from tethys_compute.clusters.providers.htcondor_tls import make_certificates
from tethys_compute.dask_client import close_clients
from tethys_compute.exceptions import SchedulerConnectionError
from tethys_compute.jobs.manager import JobManager
from tethys_compute.jobs.status import JobStatus
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler
from tethys_compute.ssh.tunnel import open_tunnels

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.sshd,
    pytest.mark.dask,
    # The "remote" Python is the system's 3.11.x, the client's the venv's 3.11.y.
    pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning"),
]

WAIT = 120.0


@pytest.fixture(scope="module")
def pool_sshd(sshd: SSHD) -> Iterator[SSHD]:
    """An sshd + stand-in with 4 slots, private to this module."""
    workdir = Path(tempfile.mkdtemp(prefix="tethys-htcondor-dask-"))
    workdir.chmod(0o755)
    try:
        server = start_condor_sshd(workdir, restore_password=sshd.password)
    except Exception as exc:  # noqa: BLE001 - report why, never skip
        pytest.fail(f"Cannot start the pool's sshd: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _certificates_in_tmp(settings: Any, tmp_path: Path) -> None:
    """The portal's cluster certificates go to the test's folder, not to ~."""
    settings.TETHYS_COMPUTE = {
        **getattr(settings, "TETHYS_COMPUTE", {}),
        "DASK_CLUSTER_TLS_DIR": str(tmp_path / "tls"),
    }


@pytest.fixture
def submit_host(pool_sshd: SSHD) -> CondorScheduler:
    if not pool_sshd.running:
        pool_sshd.start()
    return make_scheduler(pool_sshd, "pool-submit")


def write_config(folder: Path, size: int) -> Path:
    python = remote_python()
    if not python.startswith("/"):
        python = f"/usr/bin/{python}"  # "env PYTHONPATH=... /usr/bin/python3.x"
    path = folder / "config"
    path.write_text(
        textwrap.dedent(
            f"""\
            [global]
            DEFAULT_TEMPLATE = pool

            [cluster pool]
            CLOUD_PROVIDER = htcondor
            CONDOR_SCHEDULER = pool-submit
            CLUSTER_SIZE = {size}
            WORKER_CORES = 1
            WORKER_MEMORY = 512
            WORKER_PYTHON = {python}
            REMOTE_PYTHON = {python}
            WORKER_IDLE_TIMEOUT = 60
            SCHEDULER_HOST = 127.0.0.1
            START_TIMEOUT = 90
            """
        )
    )
    return path


def dask_processes_of(user: str, tag: str) -> list[int]:
    """Dask processes of ``user`` working in cluster ``tag``'s remote folder."""
    found = []
    for proc in psutil.process_iter(["username", "cmdline", "cwd"]):
        if proc.info["username"] != user:
            continue
        if "distributed.cli" not in " ".join(proc.info["cmdline"] or []):
            continue
        if f"tethys-dask-{tag}-" in str(proc.info["cwd"] or ""):
            found.append(proc.pid)
    return found


def worker_names(scheduler: DaskScheduler) -> list[str]:
    workers = scheduler.client.scheduler_info(n_workers=-1)["workers"].values()
    return sorted(str(w["name"]) for w in workers)


def wait_status(name: str) -> str:
    record = service.wait(name, timeout=WAIT)
    assert record is not None
    return f"{record.status}: {record.status_message}"


# Cluster names of this run: other test runs on the machine share the test
# account and its remote folders, never these names.
_RUN = secrets.token_hex(3)
POOL1, POOL2, POOL3 = (f"pool{n}r{_RUN}" for n in range(1, 4))


def test_pool_cluster_runs_dask_work_resizes_and_terminates_clean(
    tmp_path: Path, submit_host: CondorScheduler, pool_sshd: SSHD, django_user_model: Any
) -> None:
    config = write_config(tmp_path, size=3)  # the scheduler + 2 worker jobs
    service.start_cluster(None, POOL1, config_path=str(config))
    host = submit_host.get_remote_host()
    cluster_id = ""
    try:
        assert wait_status(POOL1).startswith("RUN")
        scheduler = Scheduler.objects.typed().get(name=POOL1)
        assert isinstance(scheduler, DaskScheduler)
        assert scheduler.ssh_tunnel_id == submit_host.pk
        record = service.refresh_cluster(POOL1)
        assert record is not None and record.status == "RUN", record.status_message
        state = record.provider_state
        jobs = sorted(w["job"] for w in state["workers"].values())
        cluster_id = jobs[0].split(".")[0]
        assert jobs == [f"{cluster_id}.0", f"{cluster_id}.1"]  # one submit, queue 2
        client = scheduler.client
        [tunnel] = open_tunnels()
        assert scheduler.host.startswith("tls://")
        assert client.scheduler.address == f"tls://{tunnel.local_address}"
        # A stranger with certificates of another authority does not get in.
        ca, cert, key = make_certificates("stranger").write_portal_files(str(tmp_path / "x"))
        stranger = DaskScheduler(
            name="stranger",
            host=scheduler.host,
            ssh_tunnel=submit_host,
            tls_ca_file=ca,
            tls_cert_file=cert,
            tls_key_file=key,
        )
        with pytest.raises(SchedulerConnectionError):
            stranger.get_client(cached=False, timeout=5)
        assert worker_names(scheduler) == jobs
        # The scheduler and both workers run as the pool's account, in the cluster's folder.
        assert len(dask_processes_of(pool_sshd.username, POOL1)) == 3
        futures = client.map(operator.mul, range(20), range(20))
        assert sum(client.gather(futures)) == sum(i * i for i in range(20))
        del futures

        # A Tethys Dask job runs on it unchanged.
        user = django_user_model.objects.create_user("pool-user", password="pw")
        manager = JobManager("test_app", tmp_path / "workspace")
        job = manager.create_job(
            "adder", user, "DASK", scheduler=scheduler, function="operator.add", args=[1, 2]
        )
        job.execute()
        wait_for(lambda: status_of(job) == JobStatus.COMPLETE, what="the Dask job")
        assert job.fetch_result(timeout=30) == 3

        # A worker job removed from outside is replaced by the refresher.
        condor.remove(host, [jobs[0]], reason="test: removed from outside").raise_for_failure()
        deadline = time.monotonic() + WAIT
        while True:
            record = service.refresh_cluster(POOL1)
            assert record is not None
            if "replaced" in record.status_message:
                break
            assert time.monotonic() < deadline, record.status_message
            time.sleep(0.5)
        assert record.status == "RUN", record.status_message
        assert "replaced 0 held and 1 lost worker job(s)" in record.status_message
        jobs = sorted(w["job"] for w in record.provider_state["workers"].values())
        assert jobs[0] != f"{cluster_id}.0" and len(jobs) == 2
        deadline = time.monotonic() + WAIT
        while worker_names(scheduler) != jobs and time.monotonic() < deadline:
            time.sleep(0.3)
        assert worker_names(scheduler) == jobs
        # A held worker job is removed and replaced the same way.
        condor.hold(host, [jobs[1]], reason="test: held").raise_for_failure()
        deadline = time.monotonic() + WAIT
        while True:
            record = service.refresh_cluster(POOL1)
            assert record is not None
            if "replaced 1 held" in record.status_message:
                break
            assert time.monotonic() < deadline, record.status_message
            time.sleep(0.5)
        held_job = jobs[1]
        jobs = sorted(w["job"] for w in record.provider_state["workers"].values())
        assert held_job not in jobs and len(jobs) == 2
        assert condor.job_statuses(host, [held_job])[held_job].done
        deadline = time.monotonic() + WAIT
        while worker_names(scheduler) != jobs and time.monotonic() < deadline:
            time.sleep(0.3)
        assert worker_names(scheduler) == jobs

        expected = {"wanted": 2, "queued": 0, "running": 2, "held": 0}
        deadline = time.monotonic() + 30  # the queue shows the start a moment later
        while True:
            record = service.refresh_cluster(POOL1)
            assert record is not None and record.status == "RUN", record.status_message
            seen = record.provider_state["workers_seen"]
            if seen == expected or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert seen == expected, (
            host.run(["condor_q", "-af", "ClusterId", "ProcId", "JobStatus"]).stdout,
            host.run(["condor_history", "-af", "ClusterId", "ProcId", "JobStatus"]).stdout,
            jobs,
        )

        # Up: one more worker job, in a new HTCondor cluster.
        service.resize_cluster(POOL1, 4)
        assert wait_status(POOL1).startswith("RUN")
        record = service.refresh_cluster(POOL1)
        assert record is not None and record.status == "RUN", record.status_message
        jobs = sorted(w["job"] for w in record.provider_state["workers"].values())
        assert len(jobs) == 3
        assert worker_names(scheduler) == jobs
        assert client.submit(operator.add, 40, 2).result(timeout=30) == 42

        # Down: the highest-numbered node's job is retired, then removed.
        service.resize_cluster(POOL1, 2)
        assert wait_status(POOL1).startswith("RUN")
        record = service.refresh_cluster(POOL1)
        assert record is not None and record.status == "RUN", record.status_message
        [left] = [w["job"] for w in record.provider_state["workers"].values()]
        deadline = time.monotonic() + 30
        while worker_names(scheduler) != [left] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker_names(scheduler) == [left]
        gone = set(jobs) - {left}
        queue = condor.job_statuses(host, sorted(gone))
        assert all(info.done for info in queue.values()), queue
        cluster = get_cluster_manager(config).get_cluster(POOL1)
        counts = cluster.provider.worker_counts(POOL1)  # type: ignore[attr-defined]
        assert counts == {"wanted": 1, "queued": 0, "running": 1, "held": 0}
    finally:
        service.terminate_cluster(POOL1, force=True)
        assert service.wait(POOL1, timeout=WAIT) is None
    # Nothing left: no record, no process, no job in the queue, no forwarded port.
    assert not Scheduler.objects.filter(name=POOL1).exists()
    deadline = time.monotonic() + 20
    while dask_processes_of(pool_sshd.username, POOL1) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dask_processes_of(pool_sshd.username, POOL1) == []
    every = condor.job_statuses(host, [cluster_id])
    assert all(info.done for info in every.values()), every
    assert open_tunnels() == []
    close_clients()


def test_missing_condor_scheduler_is_named_with_the_fix(tmp_path: Path) -> None:
    from tethys_compute.clusters.exceptions import ClusterValidationError
    from tethys_compute.models import Cluster as ClusterRecord

    config = write_config(tmp_path, size=2)
    # Refused when asked, before anything starts or is recorded.
    with pytest.raises(ClusterValidationError, match="CONDOR_SCHEDULER = 'pool-submit'"):
        service.start_cluster(None, POOL2, config_path=str(config))
    assert not ClusterRecord.objects.filter(name=POOL2).exists()


def test_condor_scheduler_is_required_for_the_htcondor_provider(tmp_path: Path) -> None:
    from tethys_compute.clusters.exceptions import ConfigError

    config = write_config(tmp_path, size=2)
    config.write_text(config.read_text().replace("CONDOR_SCHEDULER = pool-submit\n", ""))
    with pytest.raises(ConfigError) as caught:
        get_cluster_manager(config).get_cluster_template("pool")
    assert "CONDOR_SCHEDULER" in str(caught.value)
    assert os.fspath(config) in str(caught.value) or "config" in str(caught.value)


def test_clusters_page_shows_worker_jobs_wanted_queued_running_held(admin_client: Any) -> None:
    from django.urls import reverse

    from tethys_compute.models import Cluster as ClusterRecord

    ClusterRecord.objects.create(
        name="pool9",
        template="pool",
        provider="HTC",
        provider_state={"workers_seen": {"wanted": 3, "queued": 1, "running": 1, "held": 1}},
    )
    page = admin_client.get(reverse("admin:tethys_compute_cluster_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "workers: wanted / queued / running / held" in text.lower()
    assert "3 / 1 / 1 / 1" in text


def test_adaptive_pool_grows_with_work_and_shrinks_to_min_workers(
    tmp_path: Path, submit_host: CondorScheduler, pool_sshd: SSHD
) -> None:
    config = write_config(tmp_path, size=2)  # the scheduler + 1 worker job
    # The workers start through a setup line (an "activation"), run by /bin/sh.
    config.write_text(
        config.read_text()
        + "MIN_WORKERS = 1\nMAX_WORKERS = 3\nWORKER_SETUP = export TETHYS_SETUP='it ran'\n"
    )
    service.start_cluster(None, POOL3, config_path=str(config))
    try:
        assert wait_status(POOL3).startswith("RUN")
        scheduler = Scheduler.objects.typed().get(name=POOL3)
        assert isinstance(scheduler, DaskScheduler)
        client = scheduler.client
        # 40 half-second tasks on one single-threaded worker: Dask wants more workers.
        futures = client.map(time.sleep, [0.5] * 40, pure=False)
        deadline = time.monotonic() + WAIT
        while True:
            record = service.refresh_cluster(POOL3)
            assert record is not None and record.status == "RUN", record.status_message
            if len(record.provider_state["workers"]) == 3:
                break
            assert time.monotonic() < deadline, record.status_message
            time.sleep(0.5)
        assert record.size == 4
        deadline = time.monotonic() + WAIT
        while len(worker_names(scheduler)) < 3 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert len(worker_names(scheduler)) == 3
        assert set(client.run(os.getenv, "TETHYS_SETUP").values()) == {"it ran"}
        client.gather(futures)
        del futures
        # Idle again: down to MIN_WORKERS.
        deadline = time.monotonic() + WAIT
        while True:
            record = service.refresh_cluster(POOL3)
            assert record is not None and record.status == "RUN", record.status_message
            if len(record.provider_state["workers"]) == 1:
                break
            assert time.monotonic() < deadline, record.status_message
            time.sleep(0.5)
        assert record.size == 2
        [left] = [w["job"] for w in record.provider_state["workers"].values()]
        deadline = time.monotonic() + 30
        while worker_names(scheduler) != [left] and time.monotonic() < deadline:
            time.sleep(0.3)
        assert worker_names(scheduler) == [left]
    finally:
        service.terminate_cluster(POOL3, force=True)
        assert service.wait(POOL3, timeout=WAIT) is None
    deadline = time.monotonic() + 20
    while dask_processes_of(pool_sshd.username, POOL3) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dask_processes_of(pool_sshd.username, POOL3) == []
    assert open_tunnels() == []
    close_clients()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("CONDOR_SCHEDULER = pool-submit", "CONDOR_SCHEDULER = nobody-here"), "nobody-here"),
        (("WORKER_PYTHON = /", "WORKER_PYTHON = python3 #"), "absolute path"),
        (("START_TIMEOUT = 90", "START_TIMEOUT = 90\nMIN_WORKERS = 4\nMAX_WORKERS = 2"), "above"),
        (("START_TIMEOUT = 90", "START_TIMEOUT = 90\nMIN_WORKERS = 1"), "MAX_WORKERS"),
    ],
)
def test_validate_refuses_what_start_would_refuse_before_anything_starts(
    tmp_path: Path, change: tuple[str, str], words: str, db: None
) -> None:
    from tethys_compute.clusters.exceptions import ClusterValidationError

    CondorScheduler.objects.create(
        name="pool-submit", host="127.0.0.1", port=9, username="u", password="pw"
    )
    config = write_config(tmp_path, size=2)
    config.write_text(config.read_text().replace(*change, 1))
    cluster = get_cluster_manager(config).get_cluster_template("pool", "check1")
    assert not cluster.is_valid()
    with pytest.raises(ClusterValidationError, match=words):
        cluster.validate()  # nothing was started: port 9 answers nothing
