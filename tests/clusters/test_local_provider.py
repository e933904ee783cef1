"""The ``local`` provider: real detached Dask processes, found again by any process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from django.db import connection

from tethys_compute.clusters import service
from tethys_compute.clusters.manager import get_cluster_manager
from tethys_compute.dask_client import close_clients
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import DaskScheduler, Scheduler

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.dask]

ROOT = Path(__file__).resolve().parents[2]


def write_config(folder: Path, size: int = 3) -> Path:
    path = folder / "config"
    path.write_text(
        textwrap.dedent(
            f"""\
            [global]
            DEFAULT_TEMPLATE = dev

            [cluster dev]
            CLOUD_PROVIDER = local
            CLUSTER_SIZE = {size}
            WORKER_THREADS = 1
            START_TIMEOUT = 60
            """
        )
    )
    return path


def dask_pids(record: ClusterRecord) -> list[int]:
    nodes = record.provider_state.get("nodes", {})
    return [int(entry["pid"]) for entry in nodes.values()]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_local_cluster_runs_work_resizes_and_terminates_without_leftovers(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    record = service.start_cluster("dev", "loc1", config_path=str(config))
    assert record.status == "STR"
    record = service.wait("loc1", timeout=90)
    assert record is not None
    assert record.status == "RUN", record.status_message
    scheduler = Scheduler.objects.typed().get(name="loc1")
    assert isinstance(scheduler, DaskScheduler)
    assert record.scheduler_id == scheduler.pk
    assert scheduler.host == record.provider_state["address"]
    all_pids = dask_pids(record)
    assert len(all_pids) == 3 and all(alive(pid) for pid in all_pids)
    try:
        client = scheduler.client
        assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
        assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2

        # A new manager (as another request would build) finds the same cluster.
        cluster = get_cluster_manager(config).get_cluster("@tc-loc1")
        assert cluster.is_cluster_up()
        assert [n.alias for n in cluster.nodes] == ["master", "node001", "node002"]
        assert cluster.master_node.ip_address == "127.0.0.1"

        service.resize_cluster("loc1", 2)
        record = service.wait("loc1", timeout=60)
        assert record is not None and record.status == "RUN", record.status_message
        assert record.size == 2
        assert sorted(record.provider_state["nodes"]) == ["master", "node001"]
        removed = set(all_pids) - set(dask_pids(record))
        assert removed and not any(alive(pid) for pid in removed)
        assert client.submit(sum, [4, 5]).result(timeout=30) == 9

        service.resize_cluster("loc1", 3)
        record = service.wait("loc1", timeout=60)
        assert record is not None and record.status == "RUN", record.status_message
        assert sorted(record.provider_state["nodes"]) == ["master", "node001", "node002"]
        all_pids = sorted(set(all_pids) | set(dask_pids(record)))
    finally:
        close_clients(scheduler.host)
        service.terminate_cluster("loc1")
        assert service.wait("loc1", timeout=60) is None
    assert not ClusterRecord.objects.filter(name="loc1").exists()
    assert not Scheduler.objects.filter(name="loc1").exists()
    assert not any(alive(pid) for pid in all_pids)


def test_local_cluster_outlives_the_process_that_started_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, size=2)
    script = textwrap.dedent(
        f"""\
        import django
        django.setup()
        from tethys_compute.clusters import service
        service.start_cluster("dev", "loc2", config_path={str(config)!r}, background=False)
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    # The child process uses this test's database.
    if connection.vendor == "sqlite":
        env["TETHYS_TEST_SQLITE_FILE"] = str(connection.settings_dict["NAME"])
    else:
        env["PGDATABASE"] = str(connection.settings_dict["NAME"])
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr[-2000:]
    record = ClusterRecord.objects.get(name="loc2")
    assert record.status == "RUN", record.status_message
    pids = dask_pids(record)
    try:
        cluster = get_cluster_manager(config).get_cluster("loc2")
        assert cluster.is_cluster_up()
        cluster.stop_cluster()
        record.refresh_from_db()
        assert record.status == "STP"
        assert not any(alive(pid) for pid in pids)
        address = record.provider_state["address"]
        cluster = get_cluster_manager(config).get_cluster("loc2")
        cluster.start()
        record.refresh_from_db()
        assert record.status == "RUN", record.status_message
        assert record.provider_state["address"] == address  # same port after a restart
        pids = dask_pids(record)
    finally:
        get_cluster_manager(config).terminate_cluster("loc2", force=True)
    assert not any(alive(pid) for pid in pids)
    assert not ClusterRecord.objects.filter(name="loc2").exists()
