"""Growing and shrinking a running cluster: add and remove worker nodes.

:class:`ClusterResize` adds nodes (``UPD`` while it works, the plugins'
``on_add_node`` for each new one), removes them (``on_remove_node`` first)
and resizes to a number of nodes; each operation ends with the cluster
running again and its new size recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from tethys_compute.clusters.cluster_nodes import Node
from tethys_compute.clusters.cluster_plugins import ClusterPlugins
from tethys_compute.clusters.cluster_state import logger
from tethys_compute.clusters.exceptions import (
    ClusterValidationError,
    InvalidOperation,
    TethysClusterError,
)
from tethys_compute.exceptions import InvalidArgumentError
from tethys_compute.models.cluster import ClusterStatus

__all__ = ["ClusterResize"]


class ClusterResize(ClusterPlugins):
    """Worker nodes added to and removed from a running cluster."""

    def add_node(
        self,
        alias: str | None = None,
        no_create: bool = False,
        image_id: str | None = None,
        instance_type: str | None = None,
        zone: str | None = None,
        placement_group: str | None = None,
        spot_bid: float | None = None,
    ) -> Node:
        """Add one worker node; see :meth:`add_nodes`."""
        return self.add_nodes(
            1,
            aliases=[alias] if alias else None,
            no_create=no_create,
            image_id=image_id,
            instance_type=instance_type,
            zone=zone,
            placement_group=placement_group,
            spot_bid=spot_bid,
        )[0]

    def add_nodes(
        self,
        num_nodes: int,
        aliases: Sequence[str] | None = None,
        no_create: bool = False,
        image_id: str | None = None,
        instance_type: str | None = None,
        zone: str | None = None,
        placement_group: str | None = None,
        spot_bid: float | None = None,
    ) -> list[Node]:
        """Add ``num_nodes`` worker nodes to the running cluster (status ``UPD``).

        Aliases default to the next free ``nodeNNN``.  The plugins'
        ``on_add_node`` runs for each new node, then the size is recorded.

        Raises
        ------
        ClusterValidationError
            A duplicate alias, or ``master``.
        """
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
            raise InvalidArgumentError(f"num_nodes must be a whole number >= 1, not {num_nodes!r}")
        tag = self.cluster_tag
        have = {n.alias for n in self.nodes}
        if aliases:
            for alias in aliases:
                if alias == "master" or alias in have:
                    raise ClusterValidationError(
                        f"cluster {tag!r}: a node named {alias!r} already exists."
                    )
            new = list(aliases)[:num_nodes]
            new += self._free_aliases(num_nodes - len(new), have | set(new))
        else:
            new = self._free_aliases(num_nodes, have)
        if self.cloud_provider == "ssh":
            hosts = self.template.get("node_hosts") or []
            if len(have) + len(new) > len(hosts):
                raise ClusterValidationError(
                    f"cluster {tag!r}: NODE_HOSTS lists {len(hosts)} host(s), so the cluster "
                    f"cannot grow to {len(have) + len(new)} nodes; add hosts to the template."
                )
        self._begin(ClusterStatus.UPDATING, f"adding {len(new)} node(s): {', '.join(new)}")
        try:
            specs = self._specs(new)
            for spec in specs:
                spec.image_id = image_id or spec.image_id
                spec.instance_type = instance_type or spec.instance_type
            if not no_create:
                try:
                    self.provider.create_nodes(tag, specs)
                finally:
                    self.save_state()
            self.provider.wait_for_nodes(tag, new, self._timeout())
            self.save_state()
            added = [node for node in self.nodes if node.alias in new]
            for node in added:
                self.run_plugins(method_name="on_add_node", node=node)
            self.template["cluster_size"] = len(self.nodes)
            self._finish_running(f"running; added {', '.join(new)}")
        except Exception as exc:
            self._fail(exc, "adding nodes")
            raise
        return added

    def remove_node(
        self, node: Node | None = None, terminate: bool = True, force: bool = False
    ) -> None:
        """Remove one worker node (the highest-numbered one by default)."""
        self.remove_nodes(
            nodes=[node] if node else None, num_nodes=1, terminate=terminate, force=force
        )

    def remove_nodes(
        self,
        nodes: Sequence[Node] | None = None,
        num_nodes: int | None = None,
        terminate: bool = True,
        force: bool = False,
    ) -> None:
        """Remove worker nodes: ``nodes``, or the ``num_nodes`` highest-numbered ones.

        The plugins' ``on_remove_node`` runs first (``force``: errors there are
        logged and the node is removed anyway).

        Raises
        ------
        InvalidOperation
            When asked to remove the master.
        """
        current = self.nodes
        if nodes is None:
            if num_nodes is None or num_nodes < 1:
                raise InvalidArgumentError("give the nodes to remove or num_nodes >= 1")
            workers = sorted((n for n in current if not n.is_master()), key=lambda n: n.alias)
            if num_nodes > len(workers):
                raise InvalidOperation(
                    f"cluster {self.cluster_tag!r} has {len(workers)} worker node(s); cannot "
                    f"remove {num_nodes} (the master stays: terminate the cluster instead)."
                )
            chosen = list(reversed(workers))[:num_nodes]
        else:
            chosen = list(nodes)
        for node in chosen:
            if node.is_master():
                raise InvalidOperation(
                    f"cannot remove the master of cluster {self.cluster_tag!r}; terminate the "
                    "cluster instead."
                )
        names = ", ".join(n.alias for n in chosen)
        self._begin(ClusterStatus.UPDATING, f"removing {len(chosen)} node(s): {names}")
        try:
            for node in chosen:
                try:
                    self.run_plugins(method_name="on_remove_node", node=node)
                except TethysClusterError:
                    if not force:
                        raise
                    logger.exception("cluster %s: removing %s", self.cluster_tag, node.alias)
            if terminate:
                self.provider.terminate_nodes(self.cluster_tag, [n.info for n in chosen])
            else:
                self.provider.stop_nodes(self.cluster_tag, [n.info for n in chosen])
            self.save_state()
            self.template["cluster_size"] = len(
                [n for n in self.nodes if n.state not in ("stopped", "stopping")]
            )
            self._finish_running(f"running; removed {names}")
        except Exception as exc:
            self._fail(exc, "removing nodes")
            raise

    def resize(self, size: int) -> Self:
        """Grow or shrink the cluster to ``size`` nodes (the master included).

        Examples
        --------
        >>> cluster.resize(4)   # doctest: +SKIP
        """
        size = self._check_size(size)
        current = len(self.nodes)
        if size > current:
            self.add_nodes(size - current)
        elif size < current:
            self.remove_nodes(num_nodes=current - size)
        return self
