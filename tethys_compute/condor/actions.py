"""Removing, holding and releasing jobs (``condor_rm``, ``condor_hold``, ``condor_release``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tethys_compute.condor.control import parse_procs, procs_command, settle_cluster
from tethys_compute.condor.parse import (
    ActionOutcome,
    action_outcome,
    normalize_job_id,
)
from tethys_compute.condor.run import _batch
from tethys_compute.exceptions import (
    CondorError,
    InvalidArgumentError,
)
from tethys_compute.remote import RemoteHost

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# Control
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionResult:
    """Outcome of ``condor_rm``/``condor_hold``/``condor_release`` for each id.

    Attributes
    ----------
    action : str
        ``"remove"``, ``"hold"`` or ``"release"``.
    outcomes : dict of str to ActionOutcome
        Per id given: DONE, NOT_FOUND, ALREADY (already held / not held / being
        removed) or FAILED.  For a cluster id it is decided from its procs' states
        after the action (:mod:`tethys_compute.condor.control`), since HTCondor
        answers "Couldn't find" for both "already" and "not there".
    messages : dict of str to str
        HTCondor's own message per id.
    """

    action: str
    outcomes: Mapping[str, ActionOutcome]
    messages: Mapping[str, str]

    @property
    def ok(self) -> bool:
        """True when the action was applied to every id."""
        return all(o is ActionOutcome.DONE for o in self.outcomes.values())

    @property
    def done(self) -> list[str]:
        return [i for i, o in self.outcomes.items() if o is ActionOutcome.DONE]

    @property
    def failed(self) -> dict[str, str]:
        """Ids the action did not apply to, with HTCondor's message."""
        return {
            i: self.messages.get(i, "")
            for i, o in self.outcomes.items()
            if o is not ActionOutcome.DONE
        }

    def raise_for_failure(self, *, allow: Iterable[ActionOutcome] = ()) -> ActionResult:
        """Raise :class:`CondorError` unless every outcome is DONE or in ``allow``."""
        allowed = {ActionOutcome.DONE, *allow}
        bad = {i: self.messages.get(i, "") for i, o in self.outcomes.items() if o not in allowed}
        if bad:
            detail = "; ".join(f"{i}: {m or self.outcomes[i].value}" for i, m in bad.items())
            raise CondorError(f"condor {self.action} failed for {detail}")
        return self


_TOOLS = {"remove": "condor_rm", "hold": "condor_hold", "release": "condor_release"}


def _control(
    host: RemoteHost,
    action: str,
    ids: str | int | Iterable[str | int],
    reason: str | None,
    timeout: float | None,
) -> ActionResult:
    if isinstance(ids, (str, int)):
        ids = [ids]
    wanted = list(dict.fromkeys(normalize_job_id(i) for i in ids))
    if not wanted:
        return ActionResult(action, {}, {})
    if reason is not None and ("\n" in reason or not reason.strip()):
        raise InvalidArgumentError("The reason must be one non-empty line.")
    names = [f"{c}" if p is None else f"{c}.{p}" for c, p in wanted]
    options = ["-reason", reason] if reason else []
    # A cluster id's answer is ambiguous (see condor.control): each is followed by a
    # condor_q of its procs' states, in the same round trip.
    commands: list[list[str]] = []
    for (cluster, proc), name in zip(wanted, names, strict=True):
        commands.append([_TOOLS[action], *options, name])
        if proc is None:
            commands.append(procs_command(cluster))
    results = iter(_batch(host, commands, timeout=timeout))
    outcomes: dict[str, ActionOutcome] = {}
    messages: dict[str, str] = {}
    retry: dict[str, list[str]] = {}
    for (cluster, proc), name in zip(wanted, names, strict=True):
        result = next(results)
        outcome, message = action_outcome(result.exit_status, result.stdout, result.stderr)
        if proc is None:
            query = next(results)
            procs = parse_procs(query.stdout) if query.ok else None
            outcome, pending = settle_cluster(action, outcome, procs)
            if pending:
                retry[name] = [f"{cluster}.{p}" for p in pending]
        outcomes[name] = outcome
        messages[name] = message
    if retry:
        # Procs the cluster's answer left out (a stale "no jobs in the queue"): by C.P id.
        again = _control(host, action, [i for ids in retry.values() for i in ids], reason, timeout)
        for name, ids in retry.items():
            seen = [again.outcomes[i] for i in ids]
            outcomes[name] = ActionOutcome.DONE if ActionOutcome.DONE in seen else seen[0]
            messages[name] = " ".join(again.messages[i] for i in ids)
    logger.info("condor %s on %s: %s", action, host.label, outcomes)
    return ActionResult(action, outcomes, messages)


def remove(
    host: RemoteHost,
    ids: str | int | Iterable[str | int],
    *,
    reason: str | None = None,
    timeout: float | None = None,
) -> ActionResult:
    """Remove jobs (``condor_rm``), one tool run per id, all in one round trip.

    Returns
    -------
    ActionResult
        ``NOT_FOUND`` for ids not in the queue (also when the schedd has no jobs
        at all, where ``condor_rm`` exits 0), ``ALREADY`` for a cluster whose
        jobs are all being removed; call
        ``.raise_for_failure()`` to turn failures into :class:`CondorError`.

    Examples
    --------
    >>> remove(host, "42").ok  # doctest: +SKIP
    True
    """
    return _control(host, "remove", ids, reason, timeout)


def hold(
    host: RemoteHost,
    ids: str | int | Iterable[str | int],
    *,
    reason: str | None = None,
    timeout: float | None = None,
) -> ActionResult:
    """Hold jobs (``condor_hold``); an already held job or cluster gives ``ALREADY``.

    A job submitted on hold is held again (DONE; HTCondor replaces its HoldReason).
    """
    return _control(host, "hold", ids, reason, timeout)


def release(
    host: RemoteHost,
    ids: str | int | Iterable[str | int],
    *,
    reason: str | None = None,
    timeout: float | None = None,
) -> ActionResult:
    """Release held jobs (``condor_release``); a job or cluster not held gives ``ALREADY``."""
    return _control(host, "release", ids, reason, timeout)
