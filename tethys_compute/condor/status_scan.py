"""``condor_q``, then ``condor_history`` only for the procs the queue did not answer for.

A refresh asks HTCondor about jobs it believes active.  Most of them are
still in the queue; only those that left it since the last refresh are in
the history.  Reading the history costs a scan of its records (newest first,
at most ``-scanlimit`` of them), and on a busy access point the history
holds thousands of records: scanning them for jobs that are in the queue
anyway would make every refresh pay for the whole history.

So :func:`queue_then_history` is one ``sh -c`` command that runs
``condor_q``, counts the procs it printed and runs ``condor_history`` with
``-limit`` set to the procs still missing (the history stops scanning once it
found them; they are among its newest records), or not at all when none is
missing.  When the number of procs is not known (DAG node jobs),
``condor_history`` runs with ``-scanlimit`` only.  The two outputs come
back apart, separated by a random token line.

A job that leaves the queue between the two tools is counted as listed and
may also be found in the history (the history's answer wins); it may then
take the place of an older missing proc under ``-limit``, which is reported
missing this time and found by the next refresh.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from tethys_compute.condor.parse import submit_error_message
from tethys_compute.exceptions import CondorError
from tethys_compute.remote import CommandResult

__all__ = ["QUEUE_THEN_HISTORY", "queue_then_history", "split_queue_then_history"]

#: ``sh -c QUEUE_THEN_HISTORY sh CONSTRAINT ATTRIBUTES SCANLIMIT EXPECTED TOKEN``:
#: condor_q's output, a line holding TOKEN, then condor_history's output (none
#: when no proc is missing).  EXPECTED empty: unknown, the history is always
#: read.  The exit status is condor_q's when it failed (no TOKEN line then),
#: else condor_history's (0 when it did not run).  In condor_q's ``-json``
#: output every ad has one ``"ClusterId":`` line.
QUEUE_THEN_HISTORY = r"""q=$(condor_q -constraint "$1" -json -attributes "$2"; echo "rc=$?")
rc=${q##*rc=}
q=${q%rc=*}
printf '%s' "$q"
[ "$rc" -eq 0 ] || exit "$rc"
printf '\n%s\n' "$5"
if [ -n "$4" ]; then
  m=$(( $4 - $(printf '%s' "$q" | grep -c '^ *"ClusterId" *:') ))
  [ "$m" -gt 0 ] || exit 0
  exec condor_history -constraint "$1" -json -attributes "$2" -scanlimit "$3" -limit "$m"
fi
exec condor_history -constraint "$1" -json -attributes "$2" -scanlimit "$3"
"""


def queue_then_history(
    constraint: str, attributes: Sequence[str], *, scan_limit: int, expected: int | None
) -> tuple[list[str], str]:
    """The argv of the command, and the token that separates its two outputs.

    Parameters
    ----------
    constraint : str
        Selects the jobs (``ClusterId == 7 || ...``); both tools get it.
    attributes : sequence of str
        Printed for each job (``-json -attributes``); must include ``ClusterId``.
    scan_limit : int
        Most history records read (``-scanlimit``).
    expected : int or None
        Procs the constraint selects; None when unknown (DAG node jobs).

    Examples
    --------
    >>> argv, token = queue_then_history("ClusterId == 7", ["ClusterId", "JobStatus"],
    ...                                  scan_limit=500, expected=1)
    >>> argv[3:8] == ["sh", "ClusterId == 7", "ClusterId,JobStatus", "500", "1"]
    True
    """
    token = "tq" + secrets.token_hex(12)
    count = "" if expected is None else str(int(expected))
    attrs = ",".join(attributes)
    scan = str(int(scan_limit))
    return ["sh", "-c", QUEUE_THEN_HISTORY, "sh", constraint, attrs, scan, count, token], token


def split_queue_then_history(result: CommandResult, token: str, label: str) -> tuple[str, str]:
    """``condor_q``'s and ``condor_history``'s output from the command's result.

    Raises
    ------
    CondorError
        When either tool failed (with what it printed on stderr).
    """
    marker = f"\n{token}\n"
    queue, found, history = result.stdout.partition(marker)
    tool = "condor_history" if found else "condor_q"
    if not result.ok:
        raise CondorError(
            f"{tool} on {label} failed (exit status {result.exit_status}): "
            f"{submit_error_message(result.stderr, history if found else queue)}"
        )
    if not found:
        raise CondorError(
            f"condor_q on {label} printed no end of its answer; stdout: {queue.strip()[-300:]!r}"
        )
    return queue, history
