"""Whether a cluster is what its row says: the nodes, and its Dask scheduler and workers.

:class:`ClusterHealth` compares the recorded status with what the provider
reports (letting the provider replace lost nodes first) and, for a cluster
that runs, with what its registered Dask scheduler answers, and corrects the
row: ``RUN`` <-> ``ERR``.
"""

from __future__ import annotations

from tethys_compute.clusters.cluster_nodes import ClusterNodes
from tethys_compute.clusters.cluster_state import _STATUS_FIELDS, logger
from tethys_compute.clusters.exceptions import InvalidOperation, ProviderError
from tethys_compute.conf import compute_settings
from tethys_compute.dask_client import scheduler_identity
from tethys_compute.exceptions import SchedulerConnectionError
from tethys_compute.models import DaskScheduler
from tethys_compute.models.cluster import ClusterStatus

__all__ = ["ClusterHealth"]


class ClusterHealth(ClusterNodes):
    """The status check of a cluster (:meth:`refresh_status`)."""

    def refresh_status(self) -> str:
        """Compare the row's status with the nodes and correct it; return the status.

        ``RUN`` becomes ``ERR`` when nodes are missing or down, or when the
        cluster's Dask scheduler does not answer or misses workers; ``ERR``
        becomes ``RUN`` when all is well again (and the scheduler had been
        registered).  Busy statuses are left alone (the operation records its
        own outcome).
        """
        record = self._record
        if record is None:
            raise InvalidOperation(f"cluster {self.cluster_tag!r} was never started.")
        record.refresh_from_db(fields=_STATUS_FIELDS)
        if record.status in record.BUSY:
            return str(record.status)
        try:
            running = record.status == ClusterStatus.RUNNING
            healed = self.provider.heal(self.cluster_tag) if running else ""
            if running:
                self.save_state()  # heal() may also record what it saw
            if healed:
                logger.info("cluster %s: %s", self.cluster_tag, healed)
                record.set_status(
                    ClusterStatus.RUNNING, f"running; {healed}", size=self.cluster_size
                )
                return str(record.status)
            up = self.is_cluster_up()
        except ProviderError as exc:
            record.set_status(ClusterStatus.ERROR, f"cannot read the nodes: {exc}")
            return str(record.status)
        if record.status == ClusterStatus.RUNNING and not up:
            nodes = self.nodes
            record.set_status(
                ClusterStatus.ERROR,
                f"{len([n for n in nodes if n.is_up()])} of {self.cluster_size} node(s) run; "
                "start the cluster again to replace the missing ones.",
            )
            return str(record.status)
        if not up or record.status not in (ClusterStatus.RUNNING, ClusterStatus.ERROR):
            return str(record.status)
        problem = self._dask_problem()
        if record.status == ClusterStatus.RUNNING and problem:
            record.set_status(
                ClusterStatus.ERROR,
                f"{problem.rstrip('. ')}; start the cluster again to restart what is missing.",
            )
        elif record.status == ClusterStatus.ERROR and not problem and self.state.get("schedulers"):
            record.set_status(ClusterStatus.RUNNING, "running")
        return str(record.status)

    def _dask_problem(self) -> str:
        """What is wrong with the cluster's registered Dask scheduler, or ``""``.

        The scheduler must answer (within ``DASK_CONNECT_TIMEOUT``) and have a
        worker for every node but the master.
        """
        names = list(self.state.get("schedulers") or [])
        for scheduler in DaskScheduler.objects.filter(name__in=names):
            timeout = float(scheduler.timeout or compute_settings.DASK_CONNECT_TIMEOUT)
            if scheduler.ssh_tunnel_id is not None:  # only reachable through SSH
                result = scheduler.test_connection()
                if not result.ok:
                    name = scheduler.name
                    return f"the Dask scheduler {name!r} does not answer ({result.summary})"
                have = int(result.details.get("n_workers") or 0)
            else:
                try:
                    info = scheduler_identity(scheduler.host, timeout, label=scheduler.name)
                except SchedulerConnectionError as exc:
                    return f"the Dask scheduler {scheduler.name!r} does not answer ({exc})"
                have = len(info.get("workers") or {})
            wanted = self.cluster_size - 1
            if have < wanted:
                return f"{have} of {wanted} Dask worker(s) are connected to {scheduler.host}"
        return ""
