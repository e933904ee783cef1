"""The ``ssh`` provider against the loopback sshd: two or three "hosts", all 127.0.0.1."""

from __future__ import annotations

import importlib.metadata
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
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
    site-packages instead; when those are private too (a clone in a 0700
    folder), a world-readable copy of the packages ``distributed`` needs.
    """
    if world_usable(sys.executable):
        return sys.executable
    site = Path(distributed.__file__).resolve().parents[1]
    system = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.access(system, os.X_OK):
        pytest.fail(
            f"no Python the test account can run: {sys.executable} is private, {system} absent"
        )
    if not world_usable(str(site)):
        site = shared_site_packages()
    return f"env PYTHONPATH={site} {system}"


def _requirement_closure(name: str) -> list[importlib.metadata.Distribution]:
    """``name``'s distribution and every distribution it needs (extras aside)."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = [name]
    while todo:
        wanted = re.split(r"[ ;<>=!~\[(]", todo.pop(), maxsplit=1)[0].strip()
        key = re.sub(r"[-_.]+", "-", wanted).lower()
        if not key or key in seen:
            continue
        try:
            dist = importlib.metadata.distribution(wanted)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        todo.extend(r for r in dist.requires or () if "extra ==" not in r)
    return list(seen.values())


def shared_site_packages() -> Path:
    """A world-readable copy of what ``distributed`` imports, made once per machine state."""
    target = Path(tempfile.gettempdir()) / f"tethys-test-site-{distributed.__version__}-2"
    if (target / ".complete").exists():
        return target
    work = Path(tempfile.mkdtemp(prefix="tethys-test-site-"))
    for dist in _requirement_closure("distributed"):
        tops = {Path(str(f)).parts[0] for f in dist.files or () if not str(f).startswith("..")}
        for top in tops:
            source = Path(str(dist.locate_file(top)))
            if not source.exists():  # metadata (.dist-info) is copied too: packages read it
                continue
            if source.is_dir():
                shutil.copytree(source, work / top, dirs_exist_ok=True)
            else:
                shutil.copy2(source, work / top)
    for root, dirs, files in os.walk(work):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            os.chmod(path, os.stat(path).st_mode | (0o055 if name in dirs else 0o044))
    os.chmod(work, 0o755)
    (work / ".complete").touch()
    try:
        work.rename(target)
    except OSError:  # another run made it first
        shutil.rmtree(work, ignore_errors=True)
    return target


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


# Cluster names of this run: other test runs on the machine share the test
# account (and its ~/.tethys-cluster/<name> folders), never these names.
_RUN = secrets.token_hex(3)
SSH1, SSH2, SSH3, SSH4 = (f"ssh{n}r{_RUN}" for n in range(1, 5))


def remote_dask_processes(user: str, tag: str) -> list[int]:
    """The test account's dask processes of cluster ``tag`` (run in its own folder)."""
    found = []
    for proc in psutil.process_iter(["username", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["username"] != user or "distributed.cli" not in cmdline:
            continue
        try:
            cwd = proc.cwd()
        except (psutil.Error, OSError):
            continue
        if cwd.rstrip("/").endswith(f".tethys-cluster/{tag}"):
            found.append(proc.pid)
    return found


def test_ssh_cluster_runs_dask_on_the_hosts_resizes_and_terminates(
    tmp_path: Path, sshd_running: SSHD
) -> None:
    config = write_config(tmp_path, sshd_running)
    service.start_cluster(None, SSH1, config_path=str(config))
    record = service.wait(SSH1, timeout=120)
    assert record is not None and record.status == "RUN", record.status_message
    scheduler = Scheduler.objects.typed().get(name=SSH1)
    assert isinstance(scheduler, DaskScheduler)
    assert scheduler.host == record.provider_state["dask"]["address"]
    assert record.master_address == "127.0.0.1"
    try:
        client = scheduler.client
        assert client.submit(pow, 2, 10).result(timeout=30) == 1024
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        assert sorted(w["name"] for w in workers) == [f"{SSH1}-node001"]
        # The processes run as the cluster user, detached from any SSH session.
        assert len(remote_dask_processes(sshd_running.username, SSH1)) == 2

        service.resize_cluster(SSH1, 3)
        record = service.wait(SSH1, timeout=90)
        assert record is not None and record.status == "RUN", record.status_message
        names = sorted(w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values())
        assert names == [f"{SSH1}-node001", f"{SSH1}-node002"]
        cluster = get_cluster_manager(config).get_cluster(SSH1)
        assert [n.alias for n in cluster.nodes] == ["master", "node001", "node002"]
        assert (
            cluster.get_node("node002").ssh.run(["whoami"]).stdout.strip() == sshd_running.username
        )

        service.resize_cluster(SSH1, 2)
        record = service.wait(SSH1, timeout=90)
        assert record is not None and record.status == "RUN", record.status_message
        assert sorted(record.provider_state["nodes"]) == ["master", "node001"]

        # A worker dies: refresh finds out from the scheduler, start brings it back.
        pid = int(record.provider_state["dask"]["workers"]["node001"])
        worker = psutil.Process(pid)
        worker.kill()
        worker.wait(timeout=10)
        deadline = time.monotonic() + 30
        while (record := service.refresh_cluster(SSH1)) and record.status == "RUN":
            assert time.monotonic() < deadline, "the lost worker was never noticed"
            time.sleep(0.5)
        assert record is not None and record.status == "ERR"
        assert "0 of 1 Dask worker(s)" in record.status_message
        service.start_cluster(None, SSH1)
        record = service.wait(SSH1, timeout=90)
        assert record is not None and record.status == "RUN", record.status_message
        assert service.refresh_cluster(SSH1).status == "RUN"
    finally:
        close_clients(scheduler.host)
        service.terminate_cluster(SSH1, force=True)
        assert service.wait(SSH1, timeout=60) is None
    assert not Scheduler.objects.filter(name=SSH1).exists()
    assert remote_dask_processes(sshd_running.username, SSH1) == []


def test_ssh_cluster_with_unknown_host_key_fails_with_the_reason(
    tmp_path: Path, sshd_running: SSHD
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = write_config(tmp_path, sshd_running, known_hosts=empty)
    service.start_cluster(None, SSH2, config_path=str(config))
    record = service.wait(SSH2, timeout=60)
    assert record is not None and record.status == "ERR"
    assert "host key" in record.status_message.lower()
    assert not Scheduler.objects.filter(name=SSH2).exists()
    service.terminate_cluster(SSH2, force=True)
    assert service.wait(SSH2, timeout=60) is None
    assert not ClusterRecord.objects.filter(name=SSH2).exists()

    # SSH_HOST_KEY_CHECK = False: the key offered first is pinned, then checked.
    config = write_config(tmp_path, sshd_running, known_hosts=empty, check=False)
    service.start_cluster(None, SSH4, config_path=str(config), size=1)
    record = service.wait(SSH4, timeout=60)
    assert record is not None and record.status == "RUN", record.status_message
    pinned = record.provider_state["nodes"]["master"]["host_key"]
    assert pinned in sshd_running.host_keys.values()
    close_clients(record.provider_state["dask"]["address"])
    service.terminate_cluster(SSH4)
    assert service.wait(SSH4, timeout=60) is None
    assert remote_dask_processes(sshd_running.username, SSH4) == []


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
    service.start_cluster(None, SSH3, config_path=str(config))
    record = service.wait(SSH3, timeout=120)
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
        condor = Scheduler.objects.typed().get(name=SSH3)
        assert isinstance(condor, CondorScheduler)
        assert (condor.host, condor.port, condor.username) == (
            "127.0.0.1",
            sshd_running.port,
            sshd_running.username,
        )
        assert condor.private_key_path == str(sshd_running.keys["ed25519"])
        dask = Scheduler.objects.typed().get(name=f"{SSH3}-dask")
        assert isinstance(dask, DaskScheduler)
        assert record.scheduler_id == condor.pk
    finally:
        for name in (SSH3, f"{SSH3}-dask"):
            record_host = Scheduler.objects.filter(name=name).values_list("host", flat=True)
            if name.endswith("dask") and record_host:
                close_clients(record_host[0])
        service.terminate_cluster(SSH3, force=True)
        assert service.wait(SSH3, timeout=60) is None
        shutil.rmtree(sshd_running.home / "tethys-test-condor", ignore_errors=True)
    assert not Scheduler.objects.filter(name__startswith=SSH3).exists()
    assert remote_dask_processes(sshd_running.username, SSH3) == []
