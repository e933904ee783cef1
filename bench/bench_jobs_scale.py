"""Benchmark: jobs at scale (issue 18).

Run ``PYTHONPATH=. .venv/bin/python bench/bench_jobs_scale.py`` (``make bench``
runs it; ``BENCH_DB=postgres bash scripts/with-postgres.sh ...`` for
PostgreSQL).  It starts a real local Dask scheduler and one worker process
(:mod:`tethys_compute.dask_processes`) and measures, side by side:

(a) 1,000 Dask jobs created, executed and finished (Complete, result stored)
    through the job manager as a batch (``create_jobs`` + ``execute_all``)
    against 1,000 raw ``client.submit`` of the same function on the same
    scheduler, their results gathered; median of 3 runs, the sides
    alternating.  One by one (``create_job`` + ``execute()``) is timed once
    (no target; a run of it takes about as long as the rest together).  Target: the
    batch within 2x of raw.  SQL queries and scheduler calls (counted where
    they are sent) of one job, and of the batch, are printed beside their
    targets (6 queries; a constant number for the batch).
(b) The admin Jobs page (first page) at 10 and at 100,000 jobs: same query
    count, time within 2x (the time at 100 jobs, one full page, is printed
    too: at 10 jobs the page has 10 rows, at 100,000 it has 100).
(c) Memory: iterating over 100,000 listed jobs with ``iterator()`` holds a
    chunk at a time (tracemalloc peak under 1/10 of the whole list's).

Every figure is printed beside its target; the exit status is 1 when a
target is missed.  Not measured here (see bench_jobs.py for the batched
Condor refresh at 200 jobs): the refresh of 1,000 Condor jobs and the
history scan.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _django  # noqa: E402

ENGINE = _django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from tests.jobs.factories import bulk_create_jobs  # noqa: E402
from tethys_compute import dask_client  # noqa: E402
from tethys_compute.counters import remote_calls  # noqa: E402
from tethys_compute.dask_processes import LocalDaskCluster  # noqa: E402
from tethys_compute.jobs.callbacks import drain_pushes  # noqa: E402
from tethys_compute.jobs.manager import JobManager  # noqa: E402
from tethys_compute.jobs.status import JobStatus  # noqa: E402
from tethys_compute.models import DaskJob, Job  # noqa: E402
from tethys_compute.scheduler_manager import create_dask_scheduler, get_scheduler  # noqa: E402

FUNCTION = "operator.mul"
_transaction = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def statements(captured: CaptureQueriesContext) -> int:
    return sum(
        1 for q in captured.captured_queries if not q["sql"].upper().startswith(_transaction)
    )


def wait_finished(ids: list[int], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while Job.objects.filter(pk__in=ids).exclude(status_code=JobStatus.COMPLETE).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {len(ids)} jobs not Complete after {timeout:g} s")
        time.sleep(0.05)


def forget(client: object, ids: list[int]) -> None:
    keys = list(DaskJob.objects.filter(pk__in=ids).values_list("key", flat=True))
    held = set(client.list_datasets())  # type: ignore[attr-defined]
    for key in keys:
        if key in held:
            client.unpublish_dataset(key)  # type: ignore[attr-defined]
    Job.objects.filter(pk__in=ids).delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--listed", type=int, default=100_000)
    args = parser.parse_args()
    missed: list[str] = []

    def check(label: str, value: float, target: float, unit: str = "", lower: bool = True) -> None:
        ok = value <= target if lower else value >= target
        mark = "ok" if ok else "MISSED"
        print(
            f"  {label:<58} {value:10.2f}{unit}  "
            f"target {'<=' if lower else '>='} {target:g}{unit}  {mark}"
        )
        if not ok:
            missed.append(label)

    user = User.objects.create_superuser("bench", "bench@example.org", "bench-pw")
    manager = JobManager("bench", Path(tempfile.mkdtemp(prefix="tethys-bench-ws-")))
    has_batch = hasattr(manager, "create_jobs")
    n = args.jobs
    print(f"database: {ENGINE}")
    with LocalDaskCluster(n_workers=1, threads_per_worker=1, dashboard=False) as cluster:
        create_dask_scheduler("Bench", cluster.address)
        scheduler = get_scheduler("Bench")
        client = scheduler.get_client()
        from operator import mul

        # One job: queries and scheduler calls (after a first one, warm).
        first = manager.create_job(
            "w", user, "DASK", scheduler=scheduler, function=FUNCTION, args=[2, 3]
        )
        first.execute()
        wait_finished([first.pk])
        with CaptureQueriesContext(connection) as q, remote_calls.measure_thread() as seen:
            one = manager.create_job(
                "one", user, "DASK", scheduler=scheduler, function=FUNCTION, args=[2, 3]
            )
            one.execute()
        wait_finished([one.pk])
        drain_pushes()
        print("one Dask job: create_job + execute()")
        check("SQL statements", statements(q), 6)
        check("scheduler calls", seen.commands("dask"), 2)

        # The jobs' records and published results are removed after each timed run,
        # outside its time (raw holds its results until the end of its run too).
        leftovers: list[int] = []

        def raw() -> None:
            futures = [client.submit(mul, i, i, pure=False) for i in range(n)]
            values = client.gather(futures)
            assert values == [i * i for i in range(n)]
            del futures

        def one_by_one() -> None:
            ids = []
            for i in range(n):
                job = manager.create_job(
                    "j", user, "DASK", scheduler=scheduler, function=FUNCTION, args=[i, i]
                )
                job.execute()
                ids.append(job.pk)
            wait_finished(ids)
            drain_pushes()
            leftovers.extend(ids)

        batch_figures: dict[str, int] = {}

        def batch() -> None:
            with CaptureQueriesContext(connection) as q, remote_calls.measure_thread() as seen:
                jobs = manager.create_jobs(
                    "s_{id}",
                    user,
                    "DASK",
                    scheduler=scheduler,
                    function=FUNCTION,
                    parameters=[{"args": [i, i]} for i in range(n)],
                )
                manager.execute_all(jobs)
            batch_figures.update(queries=statements(q), calls=seen.commands("dask"))
            ids = [j.pk for j in jobs]
            wait_finished(ids)
            drain_pushes()
            leftovers.extend(ids)

        # One by one is timed once (no target; it is the baseline path);
        # the target is for the batch against raw, median of the alternated runs.
        started = time.perf_counter()
        one_by_one()
        single = time.perf_counter() - started
        forget(client, leftovers)
        leftovers.clear()
        sides: dict[str, Callable[[], None]] = {"raw": raw}
        if has_batch:
            sides["batch"] = batch
        times: dict[str, list[float]] = {name: [] for name in sides}
        order = list(sides)
        for run in range(args.repeat):
            for name in order[run % len(order) :] + order[: run % len(order)]:
                start = time.perf_counter()
                sides[name]()
                times[name].append(time.perf_counter() - start)
                forget(client, leftovers)
                leftovers.clear()
        med = {name: statistics.median(t) for name, t in times.items()}
        print(f"{n} Dask jobs created, executed and finished (median of {args.repeat}, alternated)")
        for name, value in med.items():
            print(f"  {name:<12} {value * 1000:9.0f} ms  ({value / n * 1000:.2f} ms per job)")
        print(
            f"  one by one (one run) {single * 1000:9.0f} ms: {single / med['raw']:.1f}x raw "
            "(no target; issue 18's baseline: 19x)"
        )
        if has_batch:
            check("batch / raw", med["batch"] / med["raw"], 2.0, "x")
            check(f"batch of {n}: SQL statements (create + execute)", batch_figures["queries"], 12)
            check(f"batch of {n}: scheduler calls", batch_figures["calls"], 2)
        dask_client.close_clients(cluster.address)

    # (b) admin Jobs page at 10 and at --listed jobs.
    Job.objects.all().delete()
    browser = Client()
    browser.force_login(user)

    def page() -> tuple[int, float]:
        with (
            CaptureQueriesContext(connection) as q,
            override_settings(ROOT_URLCONF="tests.jobs.urls"),
        ):
            start = time.perf_counter()
            response = browser.get("/admin/tethys_compute/job/")
            seconds = time.perf_counter() - start
        assert response.status_code == 200, response.status_code
        return len(q), seconds

    bulk_create_jobs(10, label="listed", user=user)
    page()
    small = [page() for _ in range(3)]
    bulk_create_jobs(90, label="listed", user=user)
    page()
    full = statistics.median(s for _, s in [page() for _ in range(3)])
    print(f"admin Jobs page at 100 jobs (one full page of 100 rows): {full * 1000:.0f} ms")
    bulk_create_jobs(args.listed - 100, label="listed", user=user)
    page()
    big = [page() for _ in range(3)]
    q_small, q_big = small[0][0], big[0][0]
    t_small = statistics.median(s for _, s in small)
    t_big = statistics.median(s for _, s in big)
    print(
        f"admin Jobs page: 10 jobs {q_small} queries {t_small * 1000:.0f} ms; "
        f"{args.listed} jobs {q_big} queries {t_big * 1000:.0f} ms"
    )
    check(f"queries at {args.listed} minus queries at 10", q_big - q_small, 0)
    check(f"time at {args.listed} / time at 10", t_big / t_small, 2.0, "x")

    # (c) memory of going through every listed job.
    listed = manager.list_jobs(filters={"label": "listed"}).order_by("id")
    tracemalloc.start()
    count = sum(1 for _ in listed.iterator(chunk_size=2000))
    _, chunked = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    whole = list(Job.objects.filter(label="listed").order_by("id")[:20_000])
    _, part = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    estimate = part * count / max(1, len(whole))
    del whole
    print(
        f"listing {count} jobs with iterator(): peak {chunked / 1e6:.1f} MB "
        f"(all at once, estimated from 20,000: {estimate / 1e6:.0f} MB)"
    )
    check("iterator() peak / whole list", chunked / estimate, 0.1, "")
    if missed:
        print("targets missed: " + "; ".join(missed))
        return 1
    print("every target met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
