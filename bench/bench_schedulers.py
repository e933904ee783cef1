"""Benchmark: get_scheduler and list_schedulers at 10, 1,000 and 10,000 schedulers.

Run ``python bench/bench_schedulers.py`` (SQLite) or, for PostgreSQL,
``scripts/with-postgres.sh env BENCH_DB=postgres python bench/bench_schedulers.py``
(``make bench`` runs both).  Prints queries and median time per call at each
size, and the growth ratio 10,000 vs 10.  Targets: one query per call at every
size; ``get_scheduler`` at 10,000 within 2x of its time at 10.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

ENGINE = _django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from tests.factories import bulk_create_schedulers  # noqa: E402
from tethys_compute.models import CondorScheduler, Scheduler  # noqa: E402
from tethys_sdk.compute import get_scheduler, list_schedulers  # noqa: E402

SIZES = (10, 1_000, 10_000)


def measure(fn: Callable[[], object], repeat: int) -> tuple[int, float]:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    queries = len(ctx.captured_queries)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return queries, statistics.median(times)


def main() -> int:
    rows = []
    for size in SIZES:
        Scheduler.objects.all().delete()
        bulk_create_schedulers(size)
        names = [f"sched-{i:0{len(str(size))}d}" for i in (0, size // 2, size - 1)]

        def get_some(names: list[str] = names) -> None:
            for name in names:
                s = get_scheduler(name)
                assert s is not None

        def iterate_all() -> None:
            total = 0
            for s in list_schedulers():
                # a subclass-only field
                total += s.port if isinstance(s, CondorScheduler) else (s.heartbeat_interval or 0)

        q_get, t_get = measure(get_some, repeat=200)
        q_list, t_list = measure(iterate_all, repeat=5 if size > 1000 else 20)
        rows.append((size, q_get // len(names), t_get / len(names), q_list, t_list))

    print(f"\nScheduler lookups on {ENGINE} ({connection.vendor})")
    print(f"{'schedulers':>10} | {'get q':>5} | {'get ms':>8} | {'list q':>6} | {'list ms':>9}")
    for size, qg, tg, ql, tl in rows:
        print(f"{size:>10} | {qg:>5} | {tg * 1e3:>8.3f} | {ql:>6} | {tl * 1e3:>9.2f}")
    small, large = rows[0], rows[-1]
    get_ratio = large[2] / small[2]
    list_ratio = large[4] / small[4]
    print(
        f"growth 10,000 vs 10: get_scheduler x{get_ratio:.2f} (target <= 2.0), "
        f"list_schedulers x{list_ratio:.1f} (no target: it reads every row)"
    )
    ok = all(r[1] == 1 and r[3] == 1 for r in rows) and get_ratio <= 2.0
    print(
        "targets (1 query each at every size; get_scheduler within 2x):", "MET" if ok else "MISSED"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
