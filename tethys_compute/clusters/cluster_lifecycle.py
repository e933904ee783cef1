"""A cluster's life: start, stop and terminate.

:class:`ClusterLifecycle` creates the row and the nodes and runs the plugins
(:meth:`~ClusterLifecycle.start`), stops the nodes to start them again later
(:meth:`~ClusterLifecycle.stop_cluster`) and removes everything
(:meth:`~ClusterLifecycle.terminate_cluster`).  Stopping and terminating
first refuse (or abort, with ``force``) the jobs still active on the
cluster's schedulers (:mod:`tethys_compute.clusters.active_jobs`).
"""

from __future__ import annotations

import time
from typing import Self

from tethys_compute.clusters.active_jobs import check_active_jobs
from tethys_compute.clusters.cluster_plugins import ClusterPlugins
from tethys_compute.clusters.cluster_state import _STATUS_FIELDS, logger
from tethys_compute.clusters.config import CLOUD_PROVIDERS
from tethys_compute.clusters.exceptions import (
    ClusterExists,
    InvalidOperation,
    ProviderError,
    TethysClusterError,
)
from tethys_compute.clusters.schedulers import unregister_scheduler
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.models.cluster import ClusterStatus

__all__ = ["ClusterLifecycle"]


class ClusterLifecycle(ClusterPlugins):
    """Start, stop and terminate a cluster."""

    def start(self, create: bool = True, validate: bool = True) -> Self:
        """Start the cluster and wait until it is usable (TethysCluster's ``start``).

        Creates the row (``STR``), the nodes (master first), waits for them,
        runs the plugins, registers the scheduler and records ``RUN``.  A
        stopped cluster is started again; nodes that already run are kept.

        Parameters
        ----------
        create : bool
            Create missing nodes (False: only start stopped ones).
        validate : bool
            Check the settings first.

        Returns
        -------
        Cluster
            ``self``, running.

        Raises
        ------
        ClusterExists
            A cluster of this name exists and is not stopped or failed.
        TethysClusterError
            The start failed; the row says ``ERR`` with the reason.
        """
        if validate:
            self.validate()
        record = self._record
        if record is None:
            record = self._ensure_record()
        else:
            self._reload()
            if record.status == ClusterStatus.RUNNING and self.is_cluster_up():
                return self
            if record.status not in (
                ClusterStatus.STOPPED,
                ClusterStatus.ERROR,
                ClusterStatus.STARTING,
            ):
                raise ClusterExists(
                    self.cluster_tag,
                    msg=f"cluster {self.cluster_tag!r} is {record.get_status_display().lower()}; "
                    f"this operation is not possible now. {self._way_out()}",
                )
        try:
            self._start(create)
        except Exception as exc:
            self._fail(exc, "start")
            raise
        return self

    def _start(self, create: bool) -> None:
        tag = self.cluster_tag
        provider = self.provider
        started = time.monotonic()
        self._progress(ClusterStatus.STARTING, f"preparing {self.cloud_provider} resources")
        provider.create_group(tag)
        self.save_state()
        existing = provider.list_nodes(tag)
        stopped = [n for n in existing if n.state == "stopped"]
        if stopped:
            self._progress(ClusterStatus.STARTING, f"starting {len(stopped)} stopped node(s)")
            provider.start_nodes(tag, stopped)
            self.save_state()
        have = {n.alias for n in provider.list_nodes(tag)}
        wanted = ["master"] + self._worker_aliases(self.cluster_size - 1, have)
        missing = [alias for alias in wanted if alias not in have]
        if missing and create:
            self._progress(
                ClusterStatus.STARTING,
                f"creating {len(missing)} node(s): {', '.join(missing)}",
            )
            try:
                provider.create_nodes(tag, self._specs(missing))
            finally:
                self.save_state()
        remaining = max(self._timeout() - (time.monotonic() - started), 1.0)
        self._progress(ClusterStatus.STARTING, "waiting for the nodes to run")
        provider.wait_for_nodes(tag, wanted, remaining)
        self.save_state()
        if stopped and not missing:
            self.run_plugins(method_name="on_restart")
        else:
            self.run_plugins()
        self._finish_running("running")

    def stop_cluster(self, terminate_unstoppable: bool = False, force: bool = False) -> None:
        """Stop every node, keeping the cluster to :meth:`start` again (status ``STP``).

        Local clusters stop their processes (the scheduler keeps its port),
        AWS clusters stop their instances (EBS-backed), ssh clusters stop the
        Dask processes on their hosts.

        While the cluster's schedulers have active jobs, nothing is touched
        and :class:`~tethys_compute.clusters.active_jobs.ClusterHasActiveJobs`
        names them; with ``force`` they are stopped first (Aborted, with the
        reason), and plugin failures at shutdown do not stop the operation.
        """
        # Before anything is touched: refuse under active jobs, or stop them (force).
        check_active_jobs(self.cluster_tag, self._scheduler_names(), "stop", force=force)
        self._begin(ClusterStatus.UPDATING, "stopping")
        try:
            nodes = self.nodes
            try:
                self.run_plugins(method_name="on_shutdown", reverse=True)
            except TethysClusterError:
                if not force:
                    raise
                logger.exception("cluster %s: plugins at stop", self.cluster_tag)
            workers = [n.info for n in nodes if not n.is_master()]
            masters = [n.info for n in nodes if n.is_master()]
            try:
                self.provider.stop_nodes(self.cluster_tag, workers + masters)
            except InvalidOperation:
                if not terminate_unstoppable:
                    raise
                self.provider.terminate_nodes(self.cluster_tag, workers + masters)
            self.save_state()
            unregister_scheduler(self)
            if self._record is not None:
                self._record.set_status(ClusterStatus.STOPPED, "stopped; start it to resume")
        except Exception as exc:
            self._fail(exc, "stop")
            raise

    def terminate_cluster(self, force: bool = False) -> None:
        """Terminate every node and remove the cluster (status ``DEL``, then the row goes).

        The plugins' ``on_shutdown`` runs first (reverse order), then the
        provider removes the nodes and the group, then the cluster's
        scheduler record is deleted and the row with it.

        Parameters
        ----------
        force : bool
            Stop the jobs still active on the cluster's schedulers first
            (they become Aborted, with the reason; without ``force`` their
            presence refuses the termination before anything is touched), and
            go on when plugins fail or the master is unreachable.
        """
        # Before anything is touched: refuse under active jobs, or stop them (force).
        check_active_jobs(self.cluster_tag, self._scheduler_names(), "terminate", force=force)
        record = self._record
        if record is not None:
            record.refresh_from_db(fields=_STATUS_FIELDS)
            self._progress(ClusterStatus.DELETING, "terminating")
        try:
            try:
                if self.running_nodes:
                    self.run_plugins(method_name="on_shutdown", reverse=True)
            except TethysComputeError as exc:
                if not force:
                    raise
                logger.warning(
                    "cluster %s: plugins at shutdown failed (%s); going on (force)",
                    self.cluster_tag,
                    exc,
                )
            try:
                nodes = self.nodes
                if nodes:
                    self._progress(ClusterStatus.DELETING, f"terminating {len(nodes)} node(s)")
                    self.provider.terminate_nodes(self.cluster_tag, [n.info for n in nodes])
                    self.save_state()
                self._progress(ClusterStatus.DELETING, "removing the cluster's resources")
                self.provider.delete_group(self.cluster_tag)
                self.save_state()
            except ProviderError as exc:
                if not force:
                    raise
                self.leftovers = (
                    f"the {self.cloud_provider} provider could not remove the cluster's "
                    f"resources ({exc}); {self._leftover_description()} may be left: check "
                    "and remove them by hand."
                )
                logger.warning("cluster %s: %s", self.cluster_tag, self.leftovers)
            unregister_scheduler(self)
        except Exception as exc:
            self._fail(exc, "terminate")
            raise
        finally:
            if self._provider is not None:
                self._provider.close()
        if record is not None:
            type(record).objects.filter(pk=record.pk).delete()
            self._record = None
        if self.progress_callback is not None:
            self.progress_callback(ClusterStatus.DELETING, "terminated")
        logger.info("cluster %s terminated", self.cluster_tag)

    def _scheduler_names(self) -> list[str]:
        """The scheduler records this cluster registered (its jobs run there)."""
        return [str(name) for name in self.state.get("schedulers") or []]

    def _leftover_description(self) -> str:
        """What the provider may still hold for this cluster (from the recorded state)."""
        state = self.state
        tag = self.cluster_tag
        if self.cloud_provider in CLOUD_PROVIDERS:
            group = f"security group @tc-{tag}"
            if state.get("group_id"):
                group += f" ({state['group_id']})"
            text = f"the {group} and the instances in it (tagged alias, in that group)"
            if state.get("spot_requests"):
                text += f", spot requests {', '.join(map(str, state['spot_requests']))}"
            region = (self.config.aws or {}).get("aws_region_name") or "us-east-1"
            return f"{text} in region {region}"
        nodes = state.get("nodes") or {}
        if self.cloud_provider == "ssh":
            hosts = sorted({f"{h}:{p}" for h, p in self.template.get("node_hosts") or []})
            return f"Dask processes of cluster {tag!r} on {', '.join(hosts) or 'its hosts'}"
        pids = sorted(str(n.get("pid")) for n in nodes.values() if n.get("pid"))
        return f"local Dask processes {', '.join(pids) or 'of the cluster'}"
