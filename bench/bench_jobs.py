"""Benchmark: job status refresh, batched vs per job; the admin Jobs list at 10 and 1,000.

Run ``python bench/bench_jobs.py`` as root (``make bench`` does).  It starts two
loopback ``sshd`` servers of the test suite, each with its own HTCondor
stand-in queue (two Condor schedulers), queues 100 held jobs on each (one
cluster per job, so 200 jobs and 200 clusters) and records them as 200 active
Condor jobs, then times side by side:

* **batched**: :func:`tethys_compute.jobs.refresh.refresh_jobs`, one remote
  command per scheduler (``condor_q`` + ``condor_history`` with ``-json``)
  and the versioned updates;
* **condorpy's way** (the baseline): what a careful user of condorpy 0.7.0
  writes to poll each job, as Tethys Platform's ``job.status`` does: one
  ``condorpy.remote_utils.RemoteClient`` kept open per scheduler (one SSH
  transport) and, per job, ``condor_q <id> -af JobStatus`` in a new exec
  channel, then the same versioned update: 200 remote commands.

The sides alternate run by run; medians of ``--repeat`` runs each.  The
number of remote commands of the batched side is counted where the SSH
session sends them (:mod:`tethys_compute.counters`), not reported by the
refresh.  Target: batched at least 20x faster, in 2 remote commands.

Then the admin's Jobs list ("show all") with 10 and with 1,000 jobs: SQL
queries (must be equal), time, and remote commands and connections counted
while it renders (must be none).

The stand-in's tools are Python programs, so each remote command also pays a
Python start-up on the far side, as a real HTCondor pays its tools' start-up
and a schedd query.
"""

from __future__ import annotations

import argparse
import posixpath
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

_django.setup()

from condorpy.remote_utils import RemoteClient  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from tests.fixtures.sshd import SSHD, start_sshd  # noqa: E402
from tests.jobs.factories import bulk_create_jobs  # noqa: E402
from tests.test_condor_e2e import make_scheduler  # noqa: E402
from tethys_compute import condor  # noqa: E402
from tethys_compute.condor.client import submit_result  # noqa: E402
from tethys_compute.counters import remote_calls  # noqa: E402
from tethys_compute.jobs.refresh import refresh_jobs  # noqa: E402
from tethys_compute.jobs.status import JobStatus, apply_status  # noqa: E402
from tethys_compute.models import CondorScheduler, Job  # noqa: E402

JOBS_PER_SCHEDULER = 100
SUBMIT = "executable = /bin/true\nhold = true\nqueue\n"


#: HTCondor's JobStatus codes as the baseline maps them (1 idle, 2 running, 5 held...).
CONDOR_STATUS = {
    1: JobStatus.SUBMITTED,
    2: JobStatus.RUNNING,
    3: JobStatus.ABORTED,
    4: JobStatus.COMPLETE,
    5: JobStatus.PAUSED,
}
TARGET = 20.0


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(
    ours: Callable[[], object], theirs: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Medians of ``repeat`` runs of each side, who goes first alternating run by run."""
    a: list[float] = []
    b: list[float] = []
    for index in range(repeat):
        if index % 2 == 0:
            a.append(timed(ours))
            b.append(timed(theirs))
        else:
            b.append(timed(theirs))
            a.append(timed(ours))
    return statistics.median(a), statistics.median(b)


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


def condorpy_clients(servers: list[SSHD]) -> dict[int, RemoteClient]:
    """One kept condorpy client per scheduler, by scheduler id."""
    clients = {}
    for server, record in zip(servers, CondorScheduler.objects.order_by("name"), strict=True):
        client = RemoteClient(
            server.host, server.username, password=server.password, port=server.port
        )
        # condorpy 0.7.0 sets ``private_key`` only when one is given, then reads
        # it on connect: a password-only client needs the attribute set.
        client.private_key = None
        clients[record.pk] = client
    return clients


def refresh_per_job(clients: dict[int, RemoteClient]) -> int:
    """The baseline: condor_q per job over condorpy's kept transport, then the same update."""
    jobs = list(Job.objects.active().filter(scheduler__isnull=False).select_subclasses())
    changed = 0
    for job in jobs:
        client = clients[job.scheduler_id]  # type: ignore[index]
        out, _err = client.execute(f"condor_q {job.cluster_id} -af JobStatus")  # type: ignore[attr-defined]
        code = int(out.strip())
        status = CONDOR_STATUS.get(code, JobStatus.VARIOUS)
        change = apply_status(job, status, expected_version=job.status_version)
        changed += int(change.applied)
    return changed


def admin_list(client: Client) -> tuple[int, float, int]:
    """Queries, seconds and remote calls (commands + connections) of one "show all" Jobs list."""
    with (
        remote_calls.measure() as seen,
        CaptureQueriesContext(connection) as queries,
        override_settings(ROOT_URLCONF="tests.jobs.urls"),
    ):
        start = time.perf_counter()
        response = client.get("/admin/tethys_compute/job/", {"all": ""})
        seconds = time.perf_counter() - start
    assert response.status_code == 200, response.status_code
    return len(queries), seconds, seen.commands() + seen.connections() + seen.transfers()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side")
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
        with remote_calls.measure() as seen:
            refresh_jobs()
        trips = seen.commands("ssh")
        clients = condorpy_clients(servers)
        try:
            batched, per_job = alternate(
                refresh_jobs, lambda: refresh_per_job(clients), args.repeat
            )
        finally:
            for remote in clients.values():
                remote.close()
        print(f"refresh of {total} active Condor jobs on 2 schedulers (sshd + HTCondor stand-in)")
        print(f"  (medians of {args.repeat} runs each, alternating)")
        print(f"  batched ({trips} remote commands counted):      {batched * 1000:9.1f} ms")
        print(f"  condorpy RemoteClient, condor_q per job ({total}): {per_job * 1000:9.1f} ms")
        ratio = per_job / batched
        print(f"  ratio: {ratio:.1f}x (target >= {TARGET:g}x, in 2 remote commands)")

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
                f"{connects} remote commands or connections"
            )
        same = rows[0][1] == rows[1][1]
        print(f"  queries equal: {'yes' if same else 'NO'}")
        ok = ratio >= TARGET and trips == 2 and same and all(r[3] == 0 for r in rows)
        return 0 if ok else 1
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
