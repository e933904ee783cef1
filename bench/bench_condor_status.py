"""Benchmark: status of 100 HTCondor jobs in one round trip vs one command per job.

Run ``python bench/bench_condor_status.py`` as root (``make bench`` does).  It
starts the loopback ``sshd`` of the test suite (whose account has the HTCondor
stand-in on its PATH), makes a Condor scheduler record for it, queues 100 jobs
(``queue 100``, idle behind a blocker job in the stand-in's only slot) and then
times, side by side:

* ``job_statuses(host, ids)``: one remote command (``condor_q`` +
  ``condor_history``, ``-json``) for all 100 ids;
* ``job_statuses(host, [id])`` once per job: 100 remote commands.

Prints the median time of each (over ``--repeat``/``--repeat-each`` runs), the
ratio, and for scale the time of 100 bare ``true`` commands over the same SSH
connection.  The
stand-in's tools are Python programs, so each remote command also pays a
Python start-up on the far side, as a real HTCondor pays its tools' start-up
and a schedd query.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

_django.setup()

from tests.fixtures.sshd import start_sshd  # noqa: E402
from tethys_compute import condor  # noqa: E402
from tethys_compute.models import CondorScheduler  # noqa: E402
from tethys_compute.remote import RemoteHost  # noqa: E402

JOBS = 100


def timed(fn: object, repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``fn``."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of the one-trip side")
    parser.add_argument("--repeat-each", type=int, default=1, help="runs of the per-job side")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tethys-bench-sshd-"))
    server = start_sshd(workdir)
    try:
        scheduler = CondorScheduler.objects.create(
            name="bench",
            host=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            host_key=server.host_key_line,
        )
        host: RemoteHost = scheduler.get_remote_host()
        blocker = condor.submit(host, {"executable": "/bin/sleep", "arguments": "300"})
        many = condor.submit(host, {"executable": "/bin/true", "queue": JOBS})
        ids = list(many.job_ids)
        try:
            answer = condor.job_statuses(host, ids)
            assert len(answer) == JOBS, f"expected {JOBS} jobs, got {len(answer)}"
            one = timed(lambda: condor.job_statuses(host, ids), args.repeat)
            each = timed(
                lambda: [condor.job_statuses(host, [job_id]) for job_id in ids], args.repeat_each
            )
            transport = timed(lambda: [host.run(["true"]) for _ in ids], args.repeat_each)
        finally:
            condor.remove(host, [blocker.cluster_id, many.cluster_id])
        print(f"status of {JOBS} jobs over SSH ({server.host}:{server.port}, HTCondor stand-in)")
        print(f"  one round trip (condor_q + condor_history, -json): {one * 1000:9.1f} ms")
        print(f"  one command per job ({JOBS} round trips):            {each * 1000:9.1f} ms")
        print(f"  ratio: {each / one:.1f}x")
        print(
            f"  (for scale: {JOBS} bare 'true' commands over that SSH: {transport * 1000:.1f} ms)"
        )
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
