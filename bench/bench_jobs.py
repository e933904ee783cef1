"""Benchmark: job status refresh, batched vs per job; the admin Jobs list at 10 and 1,000.

Run ``python bench/bench_jobs.py`` as root (``make bench`` does).  It starts two
loopback ``sshd`` servers of the test suite, each with its own HTCondor
stand-in queue (two Condor schedulers), queues 100 held jobs on each (one
cluster per job, so 200 jobs and 200 clusters) and records them as 200 active
Condor jobs, then times side by side:

* **batched**: :func:`tethys_compute.jobs.refresh.refresh_jobs`, one remote
  command per scheduler (``condor_q`` + ``condor_history`` with ``-json``)
  and the versioned updates;
* **per job**: the same reads and updates with one remote status command
  per job (what polling each job's own status costs, as Tethys Platform's
  ``job.status`` does), 200 round trips.

Target: batched at least 20x faster.  Then the admin's Jobs list ("show all")
with 10 and with 1,000 jobs: SQL queries (must be equal) and time, with every
outgoing network connection refused (must be none).

The stand-in's tools are Python programs, so each remote command also pays a
Python start-up on the far side, as a real HTCondor pays its tools' start-up
and a schedd query.
"""

from __future__ import annotations

import argparse
import posixpath
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

_django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from tests.fixtures.sshd import SSHD, start_sshd  # noqa: E402
from tests.jobs.factories import bulk_create_jobs  # noqa: E402
from tests.test_condor_e2e import make_scheduler  # noqa: E402
from tethys_compute import condor  # noqa: E402
from tethys_compute.condor.client import submit_result  # noqa: E402
from tethys_compute.jobs.refresh import _proc_status, refresh_jobs  # noqa: E402
from tethys_compute.jobs.status import apply_status  # noqa: E402
from tethys_compute.models import CondorScheduler, Job  # noqa: E402

JOBS_PER_SCHEDULER = 100
SUBMIT = "executable = /bin/true\nhold = true\nqueue\n"


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def start_scheduler(workdir: Path, name: str) -> tuple[SSHD, CondorScheduler]:
    server = start_sshd(workdir / "sshd", extra_env={"CONDOR_STANDIN_DIR": str(workdir / "q")})
    (workdir / "q").mkdir()
    shutil.chown(workdir / "q", user=server.username)
    return server, make_scheduler(server, name)


def queue_held_jobs(record: CondorScheduler, count: int) -> list[int]:
    """``count`` clusters of one held job each, submitted in one round trip."""
    host = record.get_remote_host()
    directory = host.make_temp_dir(prefix="tethys-bench-")
    host.put_bytes(SUBMIT.encode(), posixpath.join(directory, "job.sub"))
    results = condor.run_batch(
        host, [["condor_submit", "-terse", "job.sub"]] * count, timeout=300, cwd=directory
    )
    return [submit_result(r, directory, host.label).cluster_id for r in results]


def refresh_per_job() -> int:
    """The baseline: the same reads and updates, one remote status command per job."""
    jobs = list(Job.objects.active().filter(scheduler__isnull=False).select_subclasses())
    schedulers = {s.pk: s for s in CondorScheduler.objects.all()}
    changed = 0
    for job in jobs:
        host = schedulers[job.scheduler_id].get_remote_host()  # type: ignore[index]
        infos = condor.job_statuses(host, [job.cluster_id])  # type: ignore[attr-defined]
        info = next(iter(infos.values()))
        status, message = _proc_status(info)
        change = apply_status(job, status, message=message, expected_version=job.status_version)
        changed += int(change.applied)
    return changed


def admin_list(client: Client) -> tuple[int, float, int]:
    """Queries, seconds and network connections of one "show all" Jobs list."""
    with (
        mock.patch.object(socket.socket, "connect", autospec=True) as connect,
        CaptureQueriesContext(connection) as queries,
        override_settings(ROOT_URLCONF="tests.jobs.urls"),
    ):
        start = time.perf_counter()
        response = client.get("/admin/tethys_compute/job/", {"all": ""})
        seconds = time.perf_counter() - start
    assert response.status_code == 200, response.status_code
    return len(queries), seconds, connect.call_count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of the batched refresh")
    parser.add_argument("--repeat-each", type=int, default=1, help="runs of the per-job side")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tethys-bench-jobs-"))
    workdir.chmod(0o755)
    servers: list[SSHD] = []
    try:
        user = User.objects.create_superuser("bench", "bench@example.org", "bench-pw")
        for index in range(2):
            (workdir / str(index)).mkdir()
            server, record = start_scheduler(workdir / str(index), f"condor-{index}")
            servers.append(server)
            clusters = queue_held_jobs(record, JOBS_PER_SCHEDULER)
            bulk_create_jobs(
                JOBS_PER_SCHEDULER,
                label=f"bench-{index}",
                user=user,
                condor=record,
                cluster_ids=clusters,
            )
        total = Job.objects.active().count()
        first = refresh_jobs()  # every job: Submitted -> Paused (held)
        assert not first.failed and first.changed == total, first.summary()
        trips = sum(s.round_trips for s in first.schedulers)
        batched = timed(refresh_jobs, args.repeat)
        per_job = timed(refresh_per_job, args.repeat_each)
        print(f"refresh of {total} active Condor jobs on 2 schedulers (sshd + HTCondor stand-in)")
        print(f"  batched ({trips} remote commands):       {batched * 1000:9.1f} ms")
        print(f"  one status command per job ({total}):  {per_job * 1000:9.1f} ms")
        ratio = per_job / batched
        print(f"  ratio: {ratio:.1f}x (target >= 20x)")

        Job.objects.all().delete()
        client = Client()
        client.force_login(user)
        rows = []
        for size in (10, 1_000):
            Job.objects.all().delete()
            bulk_create_jobs(
                size, label=f"list-{size}", user=user, condor=CondorScheduler.objects.first()
            )
            admin_list(client)  # warm up
            rows.append((size, *admin_list(client)))
        print("admin Jobs list, every row on one page ('show all')")
        for size, queries, seconds, connects in rows:
            print(
                f"  {size:>5} jobs: {queries} queries, {seconds * 1000:7.1f} ms, "
                f"{connects} network connections"
            )
        same = rows[0][1] == rows[1][1]
        print(f"  queries equal: {'yes' if same else 'NO'}")
        ok = ratio >= 20 and same and all(r[3] == 0 for r in rows)
        return 0 if ok else 1
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
