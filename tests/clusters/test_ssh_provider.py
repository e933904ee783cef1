"""The ``ssh`` provider against the loopback sshd: two or three "hosts", all 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import textwrap
import time
from pathlib import Path

import distributed
import psutil
import pytest

from tests.fixtures.sshd import SSHD
from tethys_compute.clusters import service
from tethys_compute.clusters.manager import get_cluster_manager
from tethys_compute.dask_client import close_clients
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import CondorScheduler, DaskScheduler, Scheduler

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.sshd,
    pytest.mark.dask,
    # The "remote" Python is the system's 3.11.x, the client's the venv's 3.11.y.
    pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def world_usable(path: str) -> bool:
    """True when any account can run ``path`` (every parent directory searchable)."""
    real = Path(os.path.realpath(path))
    if not os.stat(real).st_mode & 0o001:
        return False
    return all(os.stat(parent).st_mode & 0o001 for parent in real.parents)


def remote_python() -> str:
    """The test account's Python with this venv's packages.

    The venv's interpreter lives under /root here (not searchable by the test
    account), so the system Python of the same minor version runs the venv's
    site-packages instead.
    """
    if world_usable(sys.executable):
        return sys.executable
    site = Path(distributed.__file__).resolve().parents[1]
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.access(system, os.X_OK):
        pytest.fail(
            f"no Python the test account can run: {sys.executable} is private, {system} absent"
        )
    return f"env PYTHONPATH={site} {system}"


def write_config(
    folder: Path,
    sshd: SSHD,
    *,
    known_hosts: Path | None = None,
    check: bool = True,
    extra: str = "",
) -> Path:
    hosts = ", ".join([f"127.0.0.1:{sshd.port}"] * 3)
    path = folder / "config"
    path.write_text(
        textwrap.dedent(
            f"""\
            [global]
            DEFAULT_TEMPLATE = hosts

            [key test]
            KEY_LOCATION = {sshd.keys["ed25519"]}

            [cluster hosts]
            CLOUD_PROVIDER = ssh
            KEYNAME = test
            CLUSTER_USER = {sshd.username}
            CLUSTER_SIZE = 2
            NODE_HOSTS = {hosts}
            KNOWN_HOSTS = {known_hosts or sshd.known_hosts}
            SSH_HOST_KEY_CHECK = {check}
            REMOTE_PYTHON = {remote_python()}
            SCHEDULER_PORT = {free_port()}
            DASHBOARD_PORT = {free_port()}
            START_TIMEOUT = 60
            """
        )
        + textwrap.dedent(extra)
    )
    return path


def remote_dask_processes(user: str, tag: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["username", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if (
            proc.info["username"] == user
            and "distributed.cli" in cmdline
            and (f"{tag}-node" in cmdline or "dask_scheduler" in cmdline)
        ):
            found.append(proc.pid)
    return found


def test_ssh_cluster_runs_dask_on_the_hosts_resizes_and_terminates(
    tmp_path: Path, sshd_running: SSHD
) -> None:
    config = write_config(tmp_path, sshd_running)
    service.start_cluster(None, "ssh1", config_path=str(config))
    record = service.wait("ssh1", timeout=120)
    assert record is not None and record.status == "RUN", record.status_message
    scheduler = Scheduler.objects.typed().get(name="ssh1")
    assert isinstance(scheduler, DaskScheduler)
    assert scheduler.host == record.provider_state["dask"]["address"]
    assert record.master_address == "127.0.0.1"
    try:
        client = scheduler.client
        assert client.submit(pow, 2, 10).result(timeout=30) == 1024
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        assert sorted(w["name"] for w in workers) == ["ssh1-node001"]
        # The processes run as the cluster user, detached from any SSH session.
        assert len(remote_dask_processes(sshd_running.username, "ssh1")) == 2

        service.resize_cluster("ssh1", 3)
        record = service.wait("ssh1", timeout=90)
        assert record is not None and record.status == "RUN", record.status_message
        names = sorted(w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values())
        assert names == ["ssh1-node001", "ssh1-node002"]
        cluster = get_cluster_manager(config).get_cluster("ssh1")
        assert [n.alias for n in cluster.nodes] == ["master", "node001", "node002"]
        assert (
            cluster.get_node("node002").ssh.run(["whoami"]).stdout.strip() == sshd_running.username
        )

        service.resize_cluster("ssh1", 2)
        record = service.wait("ssh1", timeout=90)
        assert record is not None and record.status == "RUN", record.status_message
        assert sorted(record.provider_state["nodes"]) == ["master", "node001"]

        # A worker dies: refresh finds out from the scheduler, start brings it back.
        pid = int(record.provider_state["dask"]["workers"]["node001"])
        worker = psutil.Process(pid)
        worker.kill()
        worker.wait(timeout=10)
        deadline = time.monotonic() + 30
        while (record := service.refresh_cluster("ssh1")) and record.status == "RUN":
            assert time.monotonic() < deadline, "the lost worker was never noticed"
            time.sleep(0.5)
        assert record is not None and record.status == "ERR"
        assert "0 of 1 Dask worker(s)" in record.status_message
        service.start_cluster(None, "ssh1")
        record = service.wait("ssh1", timeout=90)
        assert record is not None and record.status == "RUN", record.status_message
        assert service.refresh_cluster("ssh1").status == "RUN"
    finally:
        close_clients(scheduler.host)
        service.terminate_cluster("ssh1", force=True)
        assert service.wait("ssh1", timeout=60) is None
    assert not Scheduler.objects.filter(name="ssh1").exists()
    assert remote_dask_processes(sshd_running.username, "ssh1") == []


def test_ssh_cluster_with_unknown_host_key_fails_with_the_reason(
    tmp_path: Path, sshd_running: SSHD
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = write_config(tmp_path, sshd_running, known_hosts=empty)
    service.start_cluster(None, "ssh2", config_path=str(config))
    record = service.wait("ssh2", timeout=60)
    assert record is not None and record.status == "ERR"
    assert "host key" in record.status_message.lower()
    assert not Scheduler.objects.filter(name="ssh2").exists()
    service.terminate_cluster("ssh2", force=True)
    assert service.wait("ssh2", timeout=60) is None
    assert not ClusterRecord.objects.filter(name="ssh2").exists()

    # SSH_HOST_KEY_CHECK = False: the key offered first is pinned, then checked.
    config = write_config(tmp_path, sshd_running, known_hosts=empty, check=False)
    service.start_cluster(None, "ssh4", config_path=str(config), size=1)
    record = service.wait("ssh4", timeout=60)
    assert record is not None and record.status == "RUN", record.status_message
    pinned = record.provider_state["nodes"]["master"]["host_key"]
    assert pinned in sshd_running.host_keys.values()
    close_clients(record.provider_state["dask"]["address"])
    service.terminate_cluster("ssh4")
    assert service.wait("ssh4", timeout=60) is None
    assert remote_dask_processes(sshd_running.username, "ssh4") == []


def test_condor_plugin_writes_tethysclusters_htcondor_config_over_ssh(
    tmp_path: Path, sshd_running: SSHD
) -> None:
    # The HTCondor stand-in is first on the test account's PATH; it has no
    # condor_master, so condor_version stands for the start command.
    extra = """\
        PLUGINS = condor

        [plugin condor]
        SETUP_CLASS = tethyscluster.plugins.condor.CondorPlugin
        LOCAL_CONFIG_DIR = tethys-test-condor/config.d
        FS_REMOTE_DIR = tethys-test-condor/condor_tmp
        START_COMMAND = condor_version
        FLOCK_FROM = portal.example.org
        """
    config = write_config(tmp_path, sshd_running, extra=extra)
    service.start_cluster(None, "ssh3", config_path=str(config))
    record = service.wait("ssh3", timeout=120)
    assert record is not None and record.status == "RUN", record.status_message
    try:
        written = sshd_running.home / "tethys-test-condor" / "config.d" / "tethyscluster"
        text = written.read_text()
        assert "CONDOR_HOST = 127.0.0.1" in text
        assert "START = True" in text and "PREEMPT = False" in text
        assert "FS_REMOTE_DIR = tethys-test-condor/condor_tmp" in text
        # Master and node share the one "host": the node's file (no FLOCK_FROM) is last.
        assert "DAEMON_LIST = MASTER, STARTD, SCHEDD\n" in text
        assert (
            sshd_running.home / "tethys-test-condor" / "condor_tmp"
        ).stat().st_mode & 0o1777 == 0o1777
        condor = Scheduler.objects.typed().get(name="ssh3")
        assert isinstance(condor, CondorScheduler)
        assert (condor.host, condor.port, condor.username) == (
            "127.0.0.1",
            sshd_running.port,
            sshd_running.username,
        )
        assert condor.private_key_path == str(sshd_running.keys["ed25519"])
        dask = Scheduler.objects.typed().get(name="ssh3-dask")
        assert isinstance(dask, DaskScheduler)
        assert record.scheduler_id == condor.pk
    finally:
        for name in ("ssh3", "ssh3-dask"):
            record_host = Scheduler.objects.filter(name=name).values_list("host", flat=True)
            if name.endswith("dask") and record_host:
                close_clients(record_host[0])
        service.terminate_cluster("ssh3", force=True)
        assert service.wait("ssh3", timeout=60) is None
        shutil.rmtree(sshd_running.home / "tethys-test-condor", ignore_errors=True)
    assert not Scheduler.objects.filter(name__startswith="ssh3").exists()
    assert remote_dask_processes(sshd_running.username, "ssh3") == []
