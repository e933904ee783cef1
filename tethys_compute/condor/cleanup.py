"""Deleting a job's remote directory once HTCondor is done writing into it.

After ``condor_rm`` the schedd still writes the job's abort event into its
user log (for a running job only once the shadow is gone, a few seconds
later) and re-creates the log's directory if it is missing.  Deleting the
directory right after ``condor_rm`` therefore leaves a new one behind, holding
only ``job.log`` (or a workflow's ``*.dagman.log``/``*.nodes.log``).

:func:`clean_when_gone` waits, bounded, until ``condor_q`` no longer lists the
cluster (nor, for a DAG, any of its node jobs) -- the schedd writes the abort
event before a job leaves the queue -- and then deletes the directory.
"""

from __future__ import annotations

import logging
import time

from tethys_compute.condor.client import clean
from tethys_compute.condor.run import _run
from tethys_compute.remote import RemoteHost

logger = logging.getLogger(__name__)

__all__ = ["clean_when_gone", "in_queue_command"]


def in_queue_command(cluster: int) -> list[str]:
    """``condor_q`` argv listing what is still queued of ``cluster`` and of its DAG's nodes.

    Examples
    --------
    >>> in_queue_command(7)
    ['condor_q', '-constraint', 'ClusterId == 7 || DAGManJobId == 7', '-af', 'ClusterId']
    """
    cluster = int(cluster)
    constraint = f"ClusterId == {cluster} || DAGManJobId == {cluster}"
    return ["condor_q", "-constraint", constraint, "-af", "ClusterId"]


def clean_when_gone(
    host: RemoteHost,
    remote_dir: str,
    cluster: int | None,
    *,
    wait: float,
    poll: float = 0.25,
) -> bool:
    """Delete ``remote_dir`` once no job of ``cluster`` is in the queue any more.

    Parameters
    ----------
    host : RemoteHost
    remote_dir : str
        The job's absolute working directory on the host.
    cluster : int or None
        The job's (or DAGMan job's) cluster id; ``None`` deletes at once.
    wait : float
        Most seconds to wait for the cluster to leave the queue (one
        ``condor_q`` round trip per ``poll`` seconds).  When it is still there
        after that (or when ``condor_q`` fails), the directory is deleted anyway
        and a warning logged: the schedd may re-create it.

    Returns
    -------
    bool
        True when the cluster had left the queue before the directory was deleted.

    Examples
    --------
    >>> clean_when_gone(host, "/home/alice/tethys-x1", 42, wait=30)  # doctest: +SKIP
    True
    """
    gone = cluster is None
    answered = True
    deadline = time.monotonic() + max(0.0, wait)
    while cluster is not None:
        remaining = deadline - time.monotonic()
        result = _run(host, in_queue_command(cluster), timeout=max(remaining, 1.0))
        answered = result.ok
        if not answered:
            # The schedd does not answer: waiting would not tell more.
            logger.warning(
                "condor_q on %s failed (exit status %s) while waiting for cluster %s to leave "
                "the queue; deleting %s now",
                host.label,
                result.exit_status,
                cluster,
                remote_dir,
            )
            break
        gone = not result.stdout.strip()
        if gone or time.monotonic() + poll > deadline:
            break
        time.sleep(poll)
    if not gone and answered:
        logger.warning(
            "Cluster %s is still in the queue of %s after %.0f s; deleting %s anyway (HTCondor "
            "may re-create it for the job's abort event). Raise TETHYS_COMPUTE"
            "['CONDOR_REMOVE_WAIT'] if removals take longer there.",
            cluster,
            host.label,
            wait,
            remote_dir,
        )
    clean(host, remote_dir)
    return gone
