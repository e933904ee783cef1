"""A cluster's nodes: TethysCluster's ``Node``, and how a cluster finds and names them.

:class:`Node` wraps what the provider reports of one node
(:class:`~tethys_compute.clusters.providers.base.NodeInfo`);
:class:`ClusterNodes` adds to :class:`~tethys_compute.clusters.cluster_state.ClusterState`
the questions about the nodes (which exist, which run, is the cluster up)
and the aliases and specs of nodes to create.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tethys_compute.clusters.cluster_state import ClusterState
from tethys_compute.clusters.exceptions import (
    InstanceDoesNotExist,
    InvalidOperation,
    MasterDoesNotExist,
    NoClusterNodesFound,
)
from tethys_compute.clusters.providers.base import NodeInfo, NodeSpec

if TYPE_CHECKING:
    from tethys_compute.remote import RemoteHost

__all__ = ["ClusterNodes", "Node"]

_NODE_ALIAS = re.compile(r"^node(\d{3,})$")


class Node:
    """One node of a cluster (TethysCluster's ``Node``).

    Attributes
    ----------
    alias : str
        ``master`` or ``nodeNNN``.
    id : str
        The provider's id (process id, ``host:port`` or EC2 instance id).
    state : str
        ``pending``, ``running``, ``stopping``, ``stopped``...
    ip_address, private_ip_address, dns_name : str
        Where the node is reached.
    """

    def __init__(self, cluster: ClusterNodes, info: NodeInfo) -> None:
        self.cluster = cluster
        self.info = info

    alias = property(lambda self: self.info.alias)
    id = property(lambda self: self.info.id)
    state = property(lambda self: self.info.state)
    ip_address = property(lambda self: self.info.address)
    private_ip_address = property(lambda self: self.info.private_address or self.info.address)
    dns_name = property(lambda self: self.info.address)

    def __repr__(self) -> str:
        return f"<Node: {self.alias} ({self.id}) {self.state}>"

    def is_master(self) -> bool:
        """True for the master node."""
        return self.info.is_master

    def is_up(self) -> bool:
        """True when the node runs."""
        return self.info.state == "running"

    @property
    def ssh(self) -> RemoteHost:
        """A :class:`~tethys_compute.remote.RemoteHost` on the node (host key verified).

        Raises
        ------
        InvalidOperation
            The node is not a machine (``local`` clusters' nodes are processes).
        """
        remote = self.cluster.provider.remote(self.info)
        if remote is None:
            raise InvalidOperation(
                f"node {self.alias} of cluster {self.cluster.cluster_tag!r} is not a machine "
                f"one can log in to ({self.cluster.cloud_provider} provider)."
            )
        return remote

    def terminate(self) -> None:
        """Remove this node from its cluster (not the master)."""
        self.cluster.remove_node(self)  # the Cluster's (cluster_resize.py)

    def shutdown(self) -> None:
        """Stop this node (providers that can stop nodes)."""
        self.cluster.provider.stop_nodes(self.cluster.cluster_tag, [self.info])
        self.cluster.save_state()


class ClusterNodes(ClusterState):
    """The nodes of a cluster, as its provider lists them (master first)."""

    @property
    def nodes(self) -> list[Node]:
        """The nodes that are not terminated, master first."""
        return [Node(self, info) for info in self.provider.list_nodes(self.cluster_tag)]

    @property
    def running_nodes(self) -> list[Node]:
        """The nodes in state ``running``."""
        return [node for node in self.nodes if node.is_up()]

    @property
    def stopped_nodes(self) -> list[Node]:
        """The nodes in state ``stopped``."""
        return [node for node in self.nodes if node.state == "stopped"]

    @property
    def master_node(self) -> Node:
        """The master node.

        Raises
        ------
        MasterDoesNotExist
        """
        for node in self.nodes:
            if node.is_master():
                return node
        raise MasterDoesNotExist(f"cluster {self.cluster_tag!r} has no master node.")

    def get_node(self, identifier: str) -> Node:
        """The node with this alias, id or address.

        Raises
        ------
        InstanceDoesNotExist
        """
        for node in self.nodes:
            if identifier in (node.alias, node.id, node.ip_address, node.private_ip_address):
                return node
        raise InstanceDoesNotExist(identifier, label="node")

    def get_nodes(self, ids: Iterable[str]) -> list[Node]:
        """The nodes with these aliases or ids."""
        return [self.get_node(identifier) for identifier in ids]

    def get_nodes_or_raise(self) -> list[Node]:
        """The nodes; :class:`NoClusterNodesFound` when there are none."""
        nodes = self.nodes
        if not nodes:
            raise NoClusterNodesFound(f"cluster {self.cluster_tag!r} has no active nodes.")
        return nodes

    def is_cluster_up(self) -> bool:
        """True when every one of ``cluster_size`` nodes runs (master included)."""
        nodes = self.nodes
        return (
            len(nodes) >= self.cluster_size
            and all(node.is_up() for node in nodes)
            and any(node.is_master() for node in nodes)
        )

    def is_cluster_stopped(self) -> bool:
        """True when the cluster has nodes and all of them are stopped."""
        nodes = self.nodes
        return bool(nodes) and all(node.state == "stopped" for node in nodes)

    def is_cluster_terminated(self) -> bool:
        """True when the provider holds nothing of this cluster any more."""
        return not self.provider.group_exists(self.cluster_tag)

    # ------------------------------------------------------ nodes to create
    def _free_aliases(self, count: int, taken: Iterable[str]) -> list[str]:
        used = set(taken)
        aliases: list[str] = []
        number = 1
        while len(aliases) < count:
            alias = f"node{number:03d}"
            if alias not in used:
                aliases.append(alias)
            number += 1
        return aliases

    def _worker_aliases(self, count: int, have: Iterable[str]) -> list[str]:
        existing = sorted(a for a in have if _NODE_ALIAS.match(a))
        if len(existing) >= count:
            return existing[:count]
        return existing + self._free_aliases(count - len(existing), existing)

    def _specs(self, aliases: Sequence[str]) -> list[NodeSpec]:
        """Image and instance type per alias, from NODE_INSTANCE_TYPE's groups."""
        node_image = self.template.get("node_image_id")
        node_type = self.template.get("node_instance_type")
        queue: list[tuple[str | None, str | None]] = []
        for group in self.template.get("node_instance_types") or []:
            queue += [(group["type"], group["image"] or node_image)] * int(group["size"])
        specs = []
        workers = 0
        for alias in aliases:
            if alias == "master":
                specs.append(
                    NodeSpec(
                        alias,
                        self.template.get("master_image_id") or node_image,
                        self.template.get("master_instance_type") or node_type,
                    )
                )
                continue
            index = int(alias[4:]) - 1 if _NODE_ALIAS.match(alias) else workers
            workers += 1
            kind, image = queue[index] if 0 <= index < len(queue) else (node_type, node_image)
            specs.append(NodeSpec(alias, image, kind))
        return specs
