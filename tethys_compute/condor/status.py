"""Job and DAG status over a remote host: ``condor_q``/``condor_history`` and waiting."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tethys_compute.condor.parse import (
    STATUS_ATTRIBUTES,
    JobInfo,
    JobStatus,
    iter_json_ads,
    job_info_from_ad,
    normalize_job_id,
    submit_error_message,
)
from tethys_compute.condor.run import _batch, _timeout
from tethys_compute.exceptions import (
    CondorError,
    CondorJobNotFoundError,
    CondorTimeoutError,
)
from tethys_compute.remote import RemoteHost

logger = logging.getLogger(__name__)

#: Most ids asked in one remote command (keeps the command line far below ARG_MAX).
MAX_IDS_PER_QUERY = 400
#: The attributes that matter to a DAGMan job's own ad.
DAG_ATTRIBUTES = ("DAG_Status", "DAG_NodesTotal", "DAG_NodesDone", "DAG_NodesFailed")


# --------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------
def _constraint(ids: Sequence[tuple[int, int | None]]) -> str:
    terms = []
    for cluster, proc in ids:
        if proc is None:
            terms.append(f"ClusterId == {cluster}")
        else:
            terms.append(f"(ClusterId == {cluster} && ProcId == {proc})")
    return " || ".join(terms)


def status_commands(
    constraint: str,
    attributes: Sequence[str] = STATUS_ATTRIBUTES,
    *,
    scan_limit: int | None = None,
    limit: int | None = None,
) -> list[list[str]]:
    """The ``condor_q`` and ``condor_history`` argv asking ``attributes`` of matching jobs.

    Both print JSON (``-json -attributes``); ``condor_history`` looks only at
    jobs that left the queue.  ``scan_limit`` bounds the history records it
    reads, newest first (``-scanlimit``); ``limit`` stops it once that many
    jobs matched (``-limit``).

    Examples
    --------
    >>> status_commands("ClusterId == 7", ["JobStatus"], scan_limit=500, limit=2)[1]
    ... # doctest: +NORMALIZE_WHITESPACE
    ['condor_history', '-constraint', 'ClusterId == 7', '-json', '-attributes', 'JobStatus',
     '-scanlimit', '500', '-limit', '2']
    """
    attrs = ",".join(attributes)
    history = ["condor_history", "-constraint", constraint, "-json", "-attributes", attrs]
    if scan_limit is not None:
        history += ["-scanlimit", str(int(scan_limit))]
    if limit is not None:
        history += ["-limit", str(int(limit))]
    return [["condor_q", "-constraint", constraint, "-json", "-attributes", attrs], history]


def _query(
    host: RemoteHost, constraint: str, attributes: Sequence[str], timeout: float | None
) -> dict[str, JobInfo]:
    queue, history = _batch(host, status_commands(constraint, attributes), timeout=timeout)
    found: dict[str, JobInfo] = {}
    for result, in_queue in ((queue, True), (history, False)):
        if not result.ok:
            raise CondorError(
                f"{result.argv[0]} on {host.label} failed (exit status {result.exit_status}): "
                f"{submit_error_message(result.stderr, result.stdout)}"
            )
        for ad in iter_json_ads(result.stdout):
            info = job_info_from_ad(ad, in_queue=in_queue)
            if info is None:
                continue
            # condor_history ran after condor_q: a job in both left the queue in between.
            found[info.id] = info
    return found


def job_statuses(
    host: RemoteHost, ids: Iterable[str | int], *, timeout: float | None = None
) -> dict[str, JobInfo]:
    """Status of many jobs in one remote command (``condor_q`` + ``condor_history``).

    Parameters
    ----------
    host : RemoteHost
    ids : iterable of str or int
        Cluster ids (``"26"``: every job of the cluster) or job ids (``"26.1"``).
    timeout : float, optional
        Seconds for the round trip.

    Returns
    -------
    dict of str to JobInfo
        Keyed by ``"cluster.proc"`` for every job found, in the queue or in the
        history.  Ids found in neither are absent.

    Notes
    -----
    Both tools run in one ``sh -c`` script (:func:`~tethys_compute.condor.batch.run_batch`)
    with the same ``-constraint`` and ``-json -attributes``; their stdout,
    stderr and exit statuses come back framed apart.  ``condor_history`` runs
    second, so a job that finished between the two is reported as finished.
    More than :data:`MAX_IDS_PER_QUERY` ids take one round trip per batch of
    that many.

    Examples
    --------
    >>> infos = job_statuses(host, ["26", "27.0"])  # doctest: +SKIP
    >>> infos["27.0"].status  # doctest: +SKIP
    <JobStatus.IDLE: 1>
    """
    wanted = list(dict.fromkeys(normalize_job_id(i) for i in ids))
    found: dict[str, JobInfo] = {}
    for start in range(0, len(wanted), MAX_IDS_PER_QUERY):
        chunk = wanted[start : start + MAX_IDS_PER_QUERY]
        found.update(_query(host, _constraint(chunk), STATUS_ATTRIBUTES, timeout))
    return dict(sorted(found.items(), key=lambda kv: (kv[1].cluster_id, kv[1].proc_id)))


@dataclass(frozen=True)
class DagStatus:
    """A DAG's state: its DAGMan job and its node jobs (by node name).

    Attributes
    ----------
    dagman : JobInfo or None
        The DAGMan job (scheduler universe); ``None`` when not found.
    nodes : dict of str to JobInfo
        Node jobs submitted so far, by ``DAGNodeName`` (the latest try of each).
    """

    dagman: JobInfo | None
    nodes: Mapping[str, JobInfo]

    @property
    def done(self) -> bool:
        """True once the DAGMan job has completed or been removed."""
        return self.dagman is not None and self.dagman.done

    @property
    def succeeded(self) -> bool:
        """True when DAGMan completed with exit code 0 (every node succeeded)."""
        return self.dagman is not None and self.dagman.succeeded


def dag_status(host: RemoteHost, dag_id: int | str, *, timeout: float | None = None) -> DagStatus:
    """The DAGMan job and every node job of a DAG, in one remote command.

    Node jobs carry the DAGMan job's cluster id in ``DAGManJobId``; the
    query is ``ClusterId == C || DAGManJobId == C`` on the queue and the history.
    """
    cluster, _ = normalize_job_id(dag_id)
    constraint = f"ClusterId == {cluster} || DAGManJobId == {cluster}"
    found = _query(host, constraint, (*STATUS_ATTRIBUTES, *DAG_ATTRIBUTES), timeout)
    dagman = next((i for i in found.values() if i.cluster_id == cluster), None)
    nodes: dict[str, JobInfo] = {}
    for info in sorted(found.values(), key=lambda i: (i.cluster_id, i.proc_id)):
        if info.dagman_job_id == cluster:
            nodes[info.dag_node_name or info.id] = info
    return DagStatus(dagman, nodes)


def wait(
    host: RemoteHost,
    ids: str | int | Iterable[str | int],
    timeout: float,
    *,
    poll_interval: float = 0.25,
    max_interval: float = 5.0,
    until_held: bool = True,
) -> dict[str, JobInfo]:
    """Wait, at most ``timeout`` seconds, until the jobs are completed or removed.

    Polls :func:`job_statuses` (one round trip per poll), starting every
    ``poll_interval`` seconds and backing off to ``max_interval``.  Unlike
    ``condor_wait`` it needs no event log and cannot block past the timeout;
    condorpy's ``Job.wait`` can block forever.

    Parameters
    ----------
    host : RemoteHost
    ids : str, int or iterable
        One cluster/job id or several.
    timeout : float
        Upper bound in seconds.
    until_held : bool
        Also return when every unfinished job is held (it would wait for a
        ``release`` otherwise).

    Returns
    -------
    dict of str to JobInfo
        The final status of every job.

    Raises
    ------
    CondorTimeoutError
        When the jobs are still active after ``timeout`` seconds.
    CondorJobNotFoundError
        When an id is in neither the queue nor the history.
    """
    if isinstance(ids, (str, int)):
        ids = [ids]
    wanted = list(dict.fromkeys(normalize_job_id(i) for i in ids))
    deadline = time.monotonic() + timeout
    interval = poll_interval
    while True:
        remaining = deadline - time.monotonic()
        infos = job_statuses(
            host,
            [f"{c}" if p is None else f"{c}.{p}" for c, p in wanted],
            timeout=max(1.0, min(_timeout(None), remaining + 1.0)),
        )
        missing = [
            (c, p)
            for c, p in wanted
            if not any(i.cluster_id == c and (p is None or i.proc_id == p) for i in infos.values())
        ]
        if missing:
            names = ", ".join(f"{c}" if p is None else f"{c}.{p}" for c, p in missing)
            raise CondorJobNotFoundError(
                f"Job(s) {names} are neither in the queue nor in the history of {host.label}."
            )
        active = [i for i in infos.values() if not i.done]
        if not active or (until_held and all(i.status == JobStatus.HELD for i in active)):
            return infos
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            states = ", ".join(f"{i.id} {i.status_label}" for i in active[:10])
            raise CondorTimeoutError(
                f"Waited {timeout:g} s on {host.label}; still active: {states}."
            )
        time.sleep(min(interval, remaining))
        interval = min(interval * 1.6, max_interval)
