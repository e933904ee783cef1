"""Benchmark: time to a usable ``local`` cluster vs ``distributed.LocalCluster``.

Run ``PYTHONPATH=. .venv/bin/python bench/bench_cluster_local.py [--rounds N]``.
It configures Django with ``tests.settings`` on a fresh SQLite file and, side
by side in one run (the order alternating between rounds), measures from
nothing to "a scheduler and 2 workers answer a task":

(a) tethys-compute: ``get_cluster_manager(config).get_cluster_template('dev',
    name).start()`` on a ``CLOUD_PROVIDER = local`` template of size 3 (the
    master runs the scheduler, two nodes one single-threaded worker each:
    detached processes, their state in the database, the DaskScheduler record
    registered), then a ``distributed.Client`` on the registered address runs
    one task;
(b) ``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
    processes=True)`` and a ``Client`` on it running one task.

Each cluster is torn down after its round (not timed).  Prints the medians and
the ratio (a)/(b); the target is within 1.5x.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _django import setup

setup("sqlite")

from distributed import Client, LocalCluster  # noqa: E402

from tethys_compute.clusters.manager import get_cluster_manager  # noqa: E402
from tethys_compute.models import Scheduler  # noqa: E402

CONFIG = """\
[global]
DEFAULT_TEMPLATE = dev

[cluster dev]
CLOUD_PROVIDER = local
CLUSTER_SIZE = 3
WORKER_THREADS = 1
START_TIMEOUT = 60
"""


def inc(x: int) -> int:
    return x + 1


def tethys_round(config: Path, name: str) -> float:
    """Seconds from nothing to a task answered by a 2-worker local cluster."""
    started = time.perf_counter()
    cluster = get_cluster_manager(config).get_cluster_template("dev", name)
    cluster.start()
    address = Scheduler.objects.get(name=name).host
    with Client(address, timeout=30) as client:
        assert client.submit(inc, 1).result(timeout=30) == 2
        workers = len(client.scheduler_info(n_workers=-1)["workers"])
        elapsed = time.perf_counter() - started
    assert workers == 2, workers
    cluster.terminate_cluster()
    return elapsed


def distributed_round() -> float:
    """The same with ``distributed.LocalCluster``."""
    started = time.perf_counter()
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        assert client.submit(inc, 1).result(timeout=30) == 2
        elapsed = time.perf_counter() - started
        assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2
    return elapsed


TARGET = 1.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    config = Path(tempfile.mkdtemp(prefix="tethys-bench-cluster-")) / "config"
    config.write_text(CONFIG)

    ours: list[float] = []
    theirs: list[float] = []
    for index in range(args.rounds):
        if index % 2 == 0:
            ours.append(tethys_round(config, f"bench{index}"))
            theirs.append(distributed_round())
        else:
            theirs.append(distributed_round())
            ours.append(tethys_round(config, f"bench{index}"))
        print(
            f"round {index + 1}: local provider {ours[-1]:.2f} s, LocalCluster {theirs[-1]:.2f} s"
        )

    a, b = statistics.median(ours), statistics.median(theirs)
    print()
    print("time to a usable cluster (scheduler + 2 workers answering), median of", args.rounds)
    print(f"  tethys-compute local provider : {a:6.2f} s")
    print(f"  distributed.LocalCluster      : {b:6.2f} s")
    ok = a / b <= TARGET
    print(
        f"  ratio (ours / LocalCluster)   : {a / b:6.2f}  (target <= {TARGET}): "
        + ("met" if ok else "MISSED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
