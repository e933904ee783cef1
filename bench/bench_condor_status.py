"""Benchmark: status of 100 HTCondor jobs in one round trip vs condorpy's way, one per job.

Run ``python bench/bench_condor_status.py`` as root (``make bench`` does).  It
starts the loopback ``sshd`` of the test suite (whose account has the HTCondor
stand-in on its PATH), makes a Condor scheduler record for it, queues 100 jobs
(``queue 100``, idle behind a blocker job in the stand-in's only slot) and then
times, side by side and alternating run by run:

* **ours**: ``job_statuses(host, ids)``, one remote command (``condor_q`` +
  ``condor_history``, ``-json``) for all 100 ids;
* **condorpy's way** (the baseline, what a careful user of condorpy 0.7.0
  writes): one ``condorpy.remote_utils.RemoteClient`` kept open (one SSH
  transport) and, per job, ``condor_q <id> -af JobStatus`` in a new exec
  channel, as its ``Job.status`` does for a queued job: 100 remote commands.

Each side runs ``--repeat`` times; the medians and their ratio are printed with
the target (ours at least 20x faster), and the script exits 1 when it is missed.
The stand-in's tools are Python programs, so each remote command also pays a
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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

_django.setup()

from condorpy.remote_utils import RemoteClient  # noqa: E402

from tests.fixtures.sshd import start_sshd  # noqa: E402
from tethys_compute import condor  # noqa: E402
from tethys_compute.counters import remote_calls  # noqa: E402
from tethys_compute.models import CondorScheduler  # noqa: E402
from tethys_compute.remote import RemoteHost  # noqa: E402

JOBS = 100
TARGET = 20.0


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(ours: Callable[[], object], theirs: Callable[[], object], repeat: int) -> tuple:
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


def condorpy_statuses(client: RemoteClient, ids: list[str]) -> list[str]:
    """The baseline: one ``condor_q`` per job over condorpy's kept transport."""
    found = []
    for job_id in ids:
        out, _err = client.execute(f"condor_q {job_id} -af JobStatus")
        found.append(out.strip())
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side")
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
        client = RemoteClient(
            server.host, server.username, password=server.password, port=server.port
        )
        # condorpy 0.7.0 sets ``private_key`` only when one is given, then reads
        # it on connect: a password-only client needs the attribute set.
        client.private_key = None
        try:
            answer = condor.job_statuses(host, ids)
            assert len(answer) == JOBS, f"expected {JOBS} jobs, got {len(answer)}"
            assert condorpy_statuses(client, ids[:1]) == ["1"], "condor_q per job failed"
            with remote_calls.measure() as seen:
                condor.job_statuses(host, ids)
            one, each = alternate(
                lambda: condor.job_statuses(host, ids),
                lambda: condorpy_statuses(client, ids),
                args.repeat,
            )
        finally:
            client.close()
            condor.remove(host, [blocker.cluster_id, many.cluster_id])
        ratio = each / one
        ok = ratio >= TARGET and seen.commands() == 1
        print(f"status of {JOBS} queued jobs over SSH ({server.host}:{server.port}, stand-in)")
        print(f"  (medians of {args.repeat} runs each, alternating)")
        print(
            f"  ours, one round trip ({seen.commands()} remote command counted): "
            f"{one * 1000:9.1f} ms"
        )
        print(f"  condorpy RemoteClient, condor_q per job ({JOBS}): {each * 1000:9.1f} ms")
        print(f"  ratio: {ratio:.1f}x (target >= {TARGET:g}x): {'met' if ok else 'MISSED'}")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
