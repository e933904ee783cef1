"""What the SSH tunnel to a Dask scheduler costs, against a real loopback sshd.

Run (as root, like the tests: it starts its own sshd with a test account)::

    PYTHONPATH=. .venv/bin/python bench/bench_htcondor_dask.py [--calls 1000] [--rounds 3]

A real ``dask scheduler`` with one single-threaded worker on 127.0.0.1, and
two cached clients of :mod:`tethys_compute.dask_client` to it:

* **direct**: ``get_client(address)``, the client connects to the scheduler's
  port itself (the baseline: what a portal next to the scheduler does);
* **tunnel**: ``get_client(address, via=target)``, every byte goes through
  the forwarded local port, paramiko and the sshd (what a DaskScheduler with
  ``ssh_tunnel`` set does).

Each side runs ``--calls`` ``submit(...).result()`` round trips, one after the
other, alternating sides for ``--rounds`` rounds; the median round counts.

Target: the tunnel within 1.3x of direct.  The script exits 1 when missed.

Not measured here yet: the time from starting an ``htcondor`` cluster to N
workers answering through the tunnel (the provider is not built yet).
"""

from __future__ import annotations

import argparse
import operator
import os
import statistics
import sys
import tempfile
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from distributed import Client  # noqa: E402

from tests.fixtures.sshd import start_sshd  # noqa: E402
from tethys_compute import dask_client  # noqa: E402
from tethys_compute.dask_processes import LocalDaskCluster  # noqa: E402
from tethys_compute.ssh import close_connections  # noqa: E402
from tethys_compute.ssh.target import SSHTarget  # noqa: E402
from tethys_compute.ssh.tunnel import open_tunnels  # noqa: E402

TARGET_RATIO = 1.3


def round_trips(client: Client, calls: int) -> float:
    """Seconds for ``calls`` submit().result() round trips, one after the other."""
    started = time.perf_counter()
    for n in range(calls):
        if client.submit(operator.add, n, 1, pure=False).result(timeout=30) != n + 1:
            raise SystemExit("a wrong result came back")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="tethys-bench-tunnel-")
    os.chmod(workdir, 0o755)  # noqa: S103 - sshd reads authorized_keys as the test account
    server = start_sshd(workdir)
    cluster = LocalDaskCluster(n_workers=1, threads_per_worker=1, dashboard=False)
    cluster.start()
    try:
        target = SSHTarget(
            host=server.host,
            port=server.port,
            username=server.username,
            private_key_path=str(server.keys["ed25519"]),
            host_key=server.host_key_line,
            label="bench-sshd",
        )
        direct = dask_client.get_client(cluster.address, timeout=20)
        tunnel = dask_client.get_client(cluster.address, timeout=20, via=target)
        [forwarded] = open_tunnels()
        assert tunnel.scheduler.address == f"tcp://{forwarded.local_address}"
        for client in (direct, tunnel):  # warm up both paths
            round_trips(client, 50)
        times: dict[str, list[float]] = {"direct": [], "tunnel": []}
        for _ in range(args.rounds):
            times["direct"].append(round_trips(direct, args.calls))
            times["tunnel"].append(round_trips(tunnel, args.calls))
        direct_s = statistics.median(times["direct"])
        tunnel_s = statistics.median(times["tunnel"])
        ratio = tunnel_s / direct_s
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
        close_connections()
        cluster.stop()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
