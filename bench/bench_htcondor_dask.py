"""Dask on an HTCondor pool over SSH: time to workers, and what the tunnel costs.

Run (as root, like the tests: it starts its own sshd with a test account whose
PATH has the HTCondor stand-in, so each worker job is a real ``dask worker``)::

    PYTHONPATH=. .venv/bin/python bench/bench_htcondor_dask.py [--workers 3] [--calls 1000]

1. **Start**: seconds from ``Cluster.start()`` of an ``htcondor`` cluster
   (scheduler over SSH, one ``condor_submit`` of ``--workers`` worker jobs) to
   every worker answering a ``client.run`` through the SSH tunnel of the
   registered ``DaskScheduler``.
2. **Tunnel cost**: ``--calls`` ``submit(...).result()`` round trips, one after
   the other, through two cached clients of :mod:`tethys_compute.dask_client`
   to that same ``tls://`` scheduler (it listens on 127.0.0.1 here, so both
   work; both use the cluster's certificates):

   * **direct**: ``get_client(address, tls=...)``, straight to the scheduler's port
     (the baseline: a portal next to the scheduler);
   * **tunnel**: the registered record's client, every byte through the
     forwarded local port, paramiko and the sshd.

   Sides alternate for ``--rounds`` rounds; the median round counts.

Target: the tunnel within 1.3x of direct.  The script exits 1 when missed.
"""

from __future__ import annotations

import argparse
import operator
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _django import setup

setup("sqlite")

from distributed import Client  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import override_settings  # noqa: E402

from tests.clusters.test_ssh_provider import remote_python  # noqa: E402
from tests.jobs.conftest import start_condor_sshd  # noqa: E402
from tests.test_condor_e2e import make_scheduler  # noqa: E402
from tethys_compute import dask_client  # noqa: E402
from tethys_compute.clusters.manager import get_cluster_manager  # noqa: E402
from tethys_compute.models import DaskScheduler  # noqa: E402
from tethys_compute.ssh import close_connections  # noqa: E402
from tethys_compute.ssh.tunnel import open_tunnels  # noqa: E402

TARGET_RATIO = 1.3


def round_trips(client: Client, calls: int) -> float:
    """Seconds for ``calls`` submit().result() round trips, one after the other."""
    started = time.perf_counter()
    for n in range(calls):
        if client.submit(operator.add, n, 1, pure=False).result(timeout=30) != n + 1:
            raise SystemExit("a wrong result came back")
    return time.perf_counter() - started


def write_config(folder: Path, workers: int) -> Path:
    python = remote_python()
    python = python if python.startswith("/") else f"/usr/bin/{python}"
    path = folder / "config"
    path.write_text(
        textwrap.dedent(
            f"""\
            [global]
            DEFAULT_TEMPLATE = pool

            [cluster pool]
            CLOUD_PROVIDER = htcondor
            CONDOR_SCHEDULER = bench-submit
            CLUSTER_SIZE = {workers + 1}
            WORKER_CORES = 1
            WORKER_PYTHON = {python}
            REMOTE_PYTHON = {python}
            SCHEDULER_HOST = 127.0.0.1
            START_TIMEOUT = 120
            """
        )
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tethys-bench-pool-"))
    os.chmod(workdir, 0o755)  # noqa: S103 - sshd reads authorized_keys as the test account
    server = start_condor_sshd(workdir)
    # The portal's certificates of the cluster go to the bench's folder, not to ~.
    tls_dir = override_settings(
        TETHYS_COMPUTE={**settings.TETHYS_COMPUTE, "DASK_CLUSTER_TLS_DIR": str(workdir / "tls")}
    )
    tls_dir.enable()
    make_scheduler(server, "bench-submit")
    cluster = get_cluster_manager(write_config(workdir, args.workers)).get_cluster_template(
        "pool", "bench"
    )
    try:
        started = time.perf_counter()
        cluster.start()
        record = DaskScheduler.objects.get(name="bench")
        tunnel = record.client
        while len(tunnel.run(os.getpid)) < args.workers:
            if time.perf_counter() - started > 180:
                raise SystemExit("the workers did not answer within 180 s")
            time.sleep(0.05)
        start_s = time.perf_counter() - started
        [forwarded] = open_tunnels()
        assert tunnel.scheduler.address == f"tls://{forwarded.local_address}"
        direct = dask_client.get_client(record.host, timeout=20, tls=record.tls_files())
        for client in (direct, tunnel):  # warm up both paths
            round_trips(client, 50)
        times: dict[str, list[float]] = {"direct": [], "tunnel": []}
        for _ in range(args.rounds):
            times["direct"].append(round_trips(direct, args.calls))
            times["tunnel"].append(round_trips(tunnel, args.calls))
        direct_s = statistics.median(times["direct"])
        tunnel_s = statistics.median(times["tunnel"])
        ratio = tunnel_s / direct_s
        print(f"start to {args.workers} worker jobs answering through the tunnel: {start_s:.2f} s")
        print(f"{args.calls} submit().result() round trips, median of {args.rounds} rounds:")
        print(
            f"  direct on loopback : {direct_s:7.3f} s  ({direct_s / args.calls * 1e3:.3f} ms each)"
        )
        print(
            f"  through the tunnel : {tunnel_s:7.3f} s  ({tunnel_s / args.calls * 1e3:.3f} ms each)"
        )
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(f"  tunnel / direct    : {ratio:.2f}x  (target <= {TARGET_RATIO}x: {verdict})")
        return 0 if ratio <= TARGET_RATIO else 1
    finally:
        dask_client.close_clients()
        cluster.terminate_cluster(force=True)
        close_connections()
        server.stop()
        tls_dir.disable()


if __name__ == "__main__":
    sys.exit(main())
