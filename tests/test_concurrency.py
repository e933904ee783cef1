"""Two creators of one name at once: exactly one row, the loser gets the same record."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection, connections

from tethys_compute.exceptions import SchedulerConflictError
from tethys_compute.models import Scheduler
from tethys_sdk.compute import create_condor_scheduler, create_dask_scheduler

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db(transaction=True)
def test_two_threads_creating_one_name_make_one_row():
    barrier = threading.Barrier(2, timeout=10)
    results: list[object] = []

    def create() -> None:
        try:
            barrier.wait()
            results.append(create_dask_scheduler("shared", "localhost:8786", timeout=5))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(not t.is_alive() for t in threads)
    assert Scheduler.objects.filter(name="shared").count() == 1
    pks = {getattr(r, "pk", None) for r in results}
    assert len(results) == 2 and len(pks) == 1 and None not in pks, results


@pytest.mark.django_db(transaction=True)
def test_two_threads_with_different_settings_one_wins_one_gets_a_conflict():
    barrier = threading.Barrier(2, timeout=10)
    results: list[object] = []

    def create(user: str) -> None:
        try:
            barrier.wait()
            results.append(create_condor_scheduler("shared", "h.example.com", user, "pw"))
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(u,)) for u in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert all(not t.is_alive() for t in threads)
    assert Scheduler.objects.filter(name="shared").count() == 1
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["CondorScheduler", "SchedulerConflictError"], results
    conflict = next(r for r in results if isinstance(r, SchedulerConflictError))
    assert conflict.fields == ["username"]


@pytest.mark.django_db(transaction=True)
def test_two_processes_creating_one_name_make_one_row():
    db = connection.settings_dict
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="tests.settings")
    if db["ENGINE"].endswith("sqlite3"):
        env["TETHYS_TEST_SQLITE_FILE"] = db["NAME"]
    else:
        env["PGDATABASE"] = db["NAME"]
    script = (
        "import os, django;"
        "django.setup();"
        "from tethys_sdk.compute import create_dask_scheduler;"
        "import time; time.sleep(max(0, float(os.environ['START_AT']) - time.time()));"
        "print(create_dask_scheduler('proc', 'localhost:8786').pk)"
    )
    import time

    env["START_AT"] = str(time.time() + 3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    pks = {out.strip() for out, _ in outs}
    assert len(pks) == 1
    assert Scheduler.objects.filter(name="proc").count() == 1
