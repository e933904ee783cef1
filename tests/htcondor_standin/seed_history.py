"""Fill the stand-in's history with finished jobs, for benchmarks (not an HTCondor tool).

Usage, as the stand-in's account (``CONDOR_STANDIN_DIR`` as for the tools)::

    python3 seed_history.py COUNT

A real HTCondor access point that ran jobs for a while keeps thousands of
them in its history.  Running that many jobs through the stand-in takes
minutes, so this copies the newest history record (a job that did run
through the stand-in: run one first) COUNT times, as the jobs of COUNT new
clusters that finished one after the other, oldest first, and moves the
queue's cluster counter past them, as if they had been submitted before the
next job.  Nothing else changes: the tools read these records as they read
any other (``condor_history`` newest first, ``-scanlimit`` counting them).
"""

from __future__ import annotations

import json
import os
import sys

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from htcondor_standin.state import State  # noqa: E402


def _template(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = [line for line in fh if line.strip()]
    except FileNotFoundError:
        lines = []
    if not lines:
        raise SystemExit("seed_history: the history is empty; let one job finish first")
    return json.loads(lines[-1])


def seed(state: State, count: int) -> tuple[int, int]:
    """Append ``count`` finished jobs to the history; their first and last cluster ids."""
    with state.lock():
        queue = state._load()
        template = _template(state.history_path)
        first = queue.next_cluster
        finished = int(template.get("CompletionDate") or template.get("EnteredCurrentStatus"))
        start = finished - 2 * count
        host = str(template.get("GlobalJobId", "standin#0.0#0")).split("#")[0]
        with open(state.history_path, "a", encoding="utf-8") as fh:
            for index in range(count):
                cluster = first + index
                when = start + 2 * index
                ad = dict(template)
                ad.update(
                    ClusterId=cluster,
                    ProcId=0,
                    GlobalJobId=f"{host}#{cluster}.0#{when - 1}",
                    QDate=when - 1,
                    JobStartDate=when - 1,
                    JobCurrentStartDate=when - 1,
                    CompletionDate=when,
                    EnteredCurrentStatus=when,
                )
                fh.write(json.dumps(ad) + "\n")
        queue.next_cluster = first + count
        state._save(queue)
    return first, first + count - 1


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        sys.stderr.write("usage: seed_history.py COUNT\n")
        return 2
    first, last = seed(State(), int(argv[1]))
    sys.stdout.write(f"{first} {last}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
