"""Starting and stopping real dask processes: readiness, failures with logs, no leftovers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import psutil
import pytest

from tethys_compute.dask_client import scheduler_identity
from tethys_compute.dask_processes import (
    DaskProcessError,
    LocalDaskCluster,
    start_scheduler,
    stop_pids,
    wait_for_workers,
)

pytestmark = pytest.mark.dask


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cluster_is_ready_on_loopback_and_stops_without_leftovers() -> None:
    with LocalDaskCluster(n_workers=2, threads_per_worker=1) as cluster:
        assert cluster.address.startswith("tcp://127.0.0.1:")
        assert cluster.dashboard_address and cluster.dashboard_address.startswith("127.0.0.1:")
        info = scheduler_identity(cluster.address, timeout=5)
        assert info["n_workers"] == 2 and info["total_threads"] == 2
        pids = cluster.pids
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
    assert not any(alive(pid) for pid in pids)


def test_detached_cluster_outlives_the_process_that_started_it() -> None:
    program = (
        "import json\n"
        "from tethys_compute.dask_processes import LocalDaskCluster\n"
        "c = LocalDaskCluster(n_workers=1, dashboard=False, detached=True).start()\n"
        "print(json.dumps({'pids': c.pids, 'address': c.address}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    started = json.loads(done.stdout.strip().splitlines()[-1])
    pids, address = started["pids"], started["address"]
    try:
        assert all(alive(pid) and os.getsid(pid) == pid for pid in pids)
        assert wait_for_workers(address, 1, timeout=5)["n_workers"] == 1
    finally:
        stop_pids(pids)
    assert not any(alive(pid) for pid in pids)


def test_attached_processes_stop_when_their_interpreter_exits() -> None:
    program = (
        "from tethys_compute.dask_processes import start_scheduler\n"
        "print(start_scheduler(dashboard=False).pid)\n"  # the reference is dropped at once
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    pid = int(done.stdout.strip().splitlines()[-1])
    assert not alive(pid)


def test_port_in_use_fails_loudly_with_the_log_tail() -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        started = time.monotonic()
        with pytest.raises(DaskProcessError, match=r"did not start.*Last lines of"):
            start_scheduler(port=busy.getsockname()[1], dashboard=False, timeout=20)
        assert time.monotonic() - started < 20
    finally:
        busy.close()


def test_waiting_for_missing_workers_is_bounded() -> None:
    with LocalDaskCluster(n_workers=0, dashboard=False) as cluster:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="has 0 workers after 1 s"):
            wait_for_workers(cluster.address, 1, timeout=1)
        assert time.monotonic() - started < 3
