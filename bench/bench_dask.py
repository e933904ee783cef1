"""Benchmark: a DaskScheduler record's client against a raw ``distributed.Client``.

Run ``PYTHONPATH=. .venv/bin/python bench/bench_dask.py``.  It configures
Django with ``tests.settings`` on an in-memory SQLite database, starts a real
local scheduler and one worker process (:mod:`tethys_compute.dask_processes`),
registers a ``DaskScheduler`` for it and measures, side by side in one run:

(a) the first connect: ``get_scheduler(name).client`` on an empty cache vs
    ``distributed.Client(address)``;
(b) the cached access: ``get_scheduler(name).client`` (target under 1 ms, one
    SQL query per ``get_scheduler`` and none for ``.client``) vs Tethys 4's way,
    a new ``Client(address)`` per access;
(c) 1,000 small ``submit(...).result()`` round trips through the record's
    client vs a raw client, interleaved call by call (target: ratio of the
    medians within 1.05; the ratio of the totals is printed too).

Prints a table of medians with the ratios.
"""

from __future__ import annotations

import argparse
import operator
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.pop("TETHYS_TEST_DB", None)
os.environ["TETHYS_TEST_SQLITE_FILE"] = ":memory:"  # one connection, the main thread
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

import django  # noqa: E402

django.setup()

from distributed import Client  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from tethys_compute import dask_client  # noqa: E402
from tethys_compute.dask_processes import LocalDaskCluster  # noqa: E402
from tethys_compute.scheduler_manager import create_dask_scheduler, get_scheduler  # noqa: E402

NAME = "Bench"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def first_connect(address: str, repeat: int) -> tuple[float, float]:
    """(a): median seconds of a first connect, through the record and raw.

    Who goes first alternates, and the scheduler gets a moment after each
    close, so neither side pays for the other's disconnect.
    """
    ours: list[float] = []
    raw: list[float] = []

    def through_record() -> None:
        dask_client.close_clients(address)
        time.sleep(0.05)
        ours.append(timed(lambda: get_scheduler(NAME).client))

    def direct() -> None:
        time.sleep(0.05)
        started = time.perf_counter()
        client = Client(address, timeout=10, set_as_default=False)
        raw.append(time.perf_counter() - started)
        client.close()

    for i in range(repeat):
        for step in (through_record, direct) if i % 2 == 0 else (direct, through_record):
            step()
    dask_client.close_clients(address)
    return median_ms(ours), median_ms(raw)


def cached_access(address: str, repeat: int) -> tuple[float, float, float, float, int, int]:
    """(b): cached ``get_scheduler(name).client``, ``.client`` alone, a new Client each time."""
    get_scheduler(NAME).client  # noqa: B018 - connect once
    record = get_scheduler(NAME)
    with CaptureQueriesContext(connection) as queries:
        lookups = [timed(lambda: get_scheduler(NAME).client) for _ in range(repeat)]
    lookup_queries = len(queries)
    with CaptureQueriesContext(connection) as queries:
        accesses = [timed(lambda: record.client) for _ in range(repeat * 10)]
    access_queries = len(queries)
    fresh = []
    for _ in range(5):
        started = time.perf_counter()
        client = Client(address, timeout=10, set_as_default=False)
        fresh.append(time.perf_counter() - started)
        client.close()
    return (
        median_ms(lookups),
        median_ms(accesses),
        median_ms(fresh),
        statistics.mean(lookups) * 1000.0,
        lookup_queries,
        access_queries,
    )


def round_trips(address: str, total: int) -> tuple[list[float], list[float]]:
    """(c): ``total`` submit/result round trips each, record vs raw, interleaved one by one.

    The two clients alternate call by call (and who goes first alternates too),
    so that load from other processes on the machine falls on both alike.
    """
    ours_client = get_scheduler(NAME).client
    raw_client = Client(address, timeout=10, set_as_default=False)
    ours: list[float] = []
    raw: list[float] = []
    try:
        for warm in range(50):  # both paths warm: functions cached on the worker
            ours_client.submit(operator.add, -warm, 1).result()
            raw_client.submit(operator.add, -warm, 2).result()
        for i in range(total):
            pairs = [(ours_client, 1, ours), (raw_client, 2, raw)]
            if i % 2:
                pairs.reverse()
            for client, offset, samples in pairs:
                started = time.perf_counter()
                client.submit(operator.add, i, offset).result()
                samples.append(time.perf_counter() - started)
    finally:
        raw_client.close()
    return ours, raw


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="first connects to time")
    parser.add_argument("--lookups", type=int, default=2000, help="cached lookups to time")
    parser.add_argument("--round-trips", type=int, default=1000)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    with LocalDaskCluster(n_workers=1, threads_per_worker=1, dashboard=False) as cluster:
        create_dask_scheduler(NAME, cluster.address)
        a_ours, a_raw = first_connect(cluster.address, args.repeat)
        b_lookup, b_access, b_fresh, b_mean, b_queries, b_access_queries = cached_access(
            cluster.address, args.lookups
        )
        c_ours, c_raw = round_trips(cluster.address, args.round_trips)
        dask_client.close_clients()

    rows = [
        ("(a) first connect (ms, median)", a_ours, a_raw, "Client(address)"),
        ("(b) get_scheduler(name).client cached (ms)", b_lookup, b_fresh, "new Client per access"),
        ("(b) record.client cached (ms)", b_access, b_fresh, "new Client per access"),
        (
            "(c) submit().result() round trip (ms, median)",
            median_ms(c_ours),
            median_ms(c_raw),
            "raw Client",
        ),
        (f"(c) {args.round_trips} round trips in total (s)", sum(c_ours), sum(c_raw), "raw Client"),
    ]
    print(f"{'measure':46} {'record':>12} {'raw':>12} {'ratio':>8}  raw is")
    for label, ours, raw, what in rows:
        print(f"{label:46} {ours:12.4f} {raw:12.4f} {ours / raw:8.3f}  {what}")
    print()
    print(
        f"(b) mean get_scheduler(name).client: {b_mean:.4f} ms (target < 1 ms); SQL queries: "
        f"{b_queries} for {args.lookups} get_scheduler() calls, {b_access_queries} for "
        f"{args.lookups * 10} .client accesses"
    )
    ratio = statistics.median(c_ours) / statistics.median(c_raw)
    verdict = "within" if ratio <= 1.05 else "NOT within"
    print(
        f"(c) round-trip ratio record/raw (medians of {args.round_trips} each): {ratio:.3f} "
        f"({verdict} 1.05); totals {sum(c_ours) / sum(c_raw):.3f}"
    )
    ok = b_mean < 1.0 and b_queries == args.lookups and b_access_queries == 0 and ratio <= 1.05
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
