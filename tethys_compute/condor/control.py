"""What ``condor_hold``/``condor_release``/``condor_rm`` of a *cluster* id really did.

HTCondor answers exactly for a job id (``C.P``): ``Job C.P held``, ``Job C.P
already held``, ``Job C.P not held to be released``, ``Job C.P not found``.
For a cluster id it acts on "every job of the cluster that the action can
change", and when there is none it prints ``Couldn't find/<verb> all jobs in
cluster C`` (exit 1) -- or ``<tool>:0:There are no jobs in the queue`` (exit 0)
when the schedd's job count, refreshed only every few seconds, is zero.
Neither tells "already held" from "not in the queue", and the second can even
hide a job the schedd has not counted yet.

So a cluster's action is followed, in the same remote command, by
:func:`procs_command` (each proc's ``JobStatus`` after the action), and
:func:`settle_cluster` decides the outcome from those states.  Procs the
action should have changed but did not are returned for a second try by
``C.P`` id.
"""

from __future__ import annotations

from collections.abc import Mapping

from tethys_compute.condor.parse import ActionOutcome, JobStatus

__all__ = ["parse_procs", "procs_command", "settle_cluster"]

#: JobStatus values after which each action has nothing left to do for a proc.
_SETTLED: Mapping[str, frozenset[int]] = {
    "hold": frozenset({JobStatus.HELD}),
    "release": frozenset(
        {
            JobStatus.IDLE,
            JobStatus.RUNNING,
            JobStatus.COMPLETED,
            JobStatus.TRANSFERRING_OUTPUT,
            JobStatus.SUSPENDED,
        }
    ),
    "remove": frozenset({JobStatus.REMOVED}),
}


def procs_command(cluster: int) -> list[str]:
    """``condor_q`` argv printing ``ProcId JobStatus`` of every proc of ``cluster`` in the queue.

    Examples
    --------
    >>> procs_command(26)
    ['condor_q', '26', '-af', 'ProcId', 'JobStatus']
    """
    return ["condor_q", str(int(cluster)), "-af", "ProcId", "JobStatus"]


def parse_procs(stdout: str) -> dict[int, int]:
    """``{ProcId: JobStatus}`` from the output of :func:`procs_command` (bad lines skipped).

    Examples
    --------
    >>> parse_procs("0 5\\n1 1\\n")
    {0: 5, 1: 1}
    """
    procs: dict[int, int] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            procs[int(parts[0])] = int(parts[1])
    return procs


def settle_cluster(
    action: str, outcome: ActionOutcome, procs: Mapping[int, int] | None
) -> tuple[ActionOutcome, list[int]]:
    """The outcome of ``action`` on a cluster id, and the procs to try again by ``C.P`` id.

    Parameters
    ----------
    action : str
        ``"hold"``, ``"release"`` or ``"remove"``.
    outcome : ActionOutcome
        What the tool's own exit status and message said
        (:func:`~tethys_compute.condor.parse.action_outcome`).
    procs : mapping of int to int, or None
        ``{ProcId: JobStatus}`` of the cluster right after the action; ``None``
        when ``condor_q`` failed (then ``outcome`` stands).

    Returns
    -------
    (ActionOutcome, list of int)
        DONE when the tool acted; NOT_FOUND when no proc of the cluster is in
        the queue (for hold and release: none that is not being removed);
        ALREADY when every such proc already is where the action leads (held,
        not held, being removed); otherwise ``outcome`` and the procs still to
        act on.

    Examples
    --------
    >>> settle_cluster("hold", ActionOutcome.NOT_FOUND, {0: 5, 1: 5})
    (<ActionOutcome.ALREADY: 'already'>, [])
    >>> settle_cluster("release", ActionOutcome.NOT_FOUND, {})
    (<ActionOutcome.NOT_FOUND: 'not_found'>, [])
    >>> settle_cluster("hold", ActionOutcome.NOT_FOUND, {0: 1})
    (<ActionOutcome.NOT_FOUND: 'not_found'>, [0])
    """
    if outcome is ActionOutcome.DONE or procs is None:
        return outcome, []
    live = dict(procs)
    if action != "remove":
        live = {p: s for p, s in procs.items() if s != JobStatus.REMOVED}
    if not live:
        return ActionOutcome.NOT_FOUND, []
    pending = sorted(p for p, s in live.items() if s not in _SETTLED[action])
    if not pending:
        return ActionOutcome.ALREADY, []
    return outcome, pending
