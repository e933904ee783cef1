"""The stand-in's shortcuts for large queues and histories give the answers it gave before.

Id-only constraints are decided by a set lookup (``classad.quick_match``), queue jobs are
decoded on first use, ``condor_history`` reads its file backwards and stops early, and
``seed_history.py`` fills the history (see the stand-in's README, "Large queues and
histories").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.test_htcondor_standin_golden import _drain, _sh, _standin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from htcondor_standin import classad  # noqa: E402
from htcondor_standin.classad import UNDEFINED, Expr  # noqa: E402

pytestmark = [pytest.mark.timeout(120)]

SEEDER = Path(__file__).resolve().parent / "htcondor_standin" / "seed_history.py"

CONSTRAINTS = [
    "ClusterId == 5 || ClusterId == 7 || DAGManJobId == 7",
    "ClusterId == 5",
    "DAGManJobId == 3 || ClusterId == 2",
    "ClusterId == 5 || JobStatus > 3",  # not id-only: always evaluated
]
ADS = [
    {"ClusterId": 5},
    {"ClusterId": 7.0},
    {"ClusterId": 6},
    {"ClusterId": 6, "DAGManJobId": 7},
    {"ClusterId": "5"},
    {"ClusterId": 5, "DAGManJobId": "x"},
    {"DAGManJobId": "x", "ClusterId": 2},
    {"clusterid": 2},
    {"ClusterId": True},
    {},
    {"ClusterId": Expr("2 + 3")},
    {"ClusterId": UNDEFINED, "JobStatus": 4},
]


@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_id_constraints_are_decided_as_evaluated(constraint: str) -> None:
    match = classad.matcher(constraint)
    for ad in ADS:
        assert match(ad) == classad.matches(constraint, ad), (constraint, ad)
        quick = classad.quick_match(constraint, ad)
        assert quick is None or quick == classad.matches(constraint, ad), (constraint, ad)
    assert classad.quick_match(CONSTRAINTS[-1], {"ClusterId": 1}) is None


def test_queue_history_and_seeding_through_the_tools(tmp_path: Path) -> None:
    work, env = _standin(tmp_path, CONDOR_STANDIN_START_DELAY="0.05")
    state = Path(env["CONDOR_STANDIN_DIR"])
    (work / "t.sub").write_text("executable = /bin/true\nlog = t.log\nqueue\n")
    (work / "held.sub").write_text("executable = /bin/true\nhold = true\nqueue 2\n")
    try:
        assert _sh(work, env, "condor_submit -terse t.sub").stdout == "1.0 - 1.0\n"
        assert _sh(work, env, "condor_wait -wait 20 t.log").returncode == 0
        seeded = _sh(work, env, f"python3 {SEEDER} 500")
        assert (seeded.returncode, seeded.stdout) == (0, "2 501\n")
        records = (state / "history.jsonl").read_text().splitlines()
        assert len(records) == 501
        assert [json.loads(r)["ClusterId"] for r in records[-2:]] == [500, 501]
        # The next job gets the cluster after the seeded ones; the queue keeps it whole.
        before = json.loads((state / "queue.json").read_text())
        assert _sh(work, env, "condor_submit -terse held.sub").stdout == "502.0 - 502.1\n"
        after = json.loads((state / "queue.json").read_text())
        assert after["jobs"][: len(before["jobs"])] == before["jobs"]
        queue = _sh(
            work, env, "condor_q -constraint 'ClusterId == 502' -json -attributes JobStatus"
        )
        full = _sh(work, env, "condor_q 502 -json -attributes JobStatus")
        assert queue.stdout == full.stdout and queue.stdout.count('"JobStatus": 5') == 2
        # History, newest first, stopping at -limit; an id-only constraint finds old ones too.
        newest = _sh(work, env, "condor_history -limit 3 -af ClusterId")
        assert newest.stdout.split() == ["501", "500", "499"]
        first = _sh(
            work, env, "condor_history -constraint 'ClusterId == 1 || ClusterId == 2' -af ClusterId"
        )
        assert first.stdout.split() == ["2", "1"]
        bounded = _sh(
            work, env, "condor_history -scanlimit 500 -constraint 'ClusterId == 1' -af ClusterId"
        )
        assert bounded.stdout == ""
    finally:
        _drain(work, env)
