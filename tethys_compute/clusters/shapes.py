"""What the lower cluster modules may use of a cluster and its nodes (structural types).

:class:`~tethys_compute.clusters.cluster.Cluster` and its
:class:`~tethys_compute.clusters.cluster.Node` load plugins
(:mod:`~tethys_compute.clusters.plugins`) and register schedulers
(:mod:`~tethys_compute.clusters.schedulers`); those modules type what they are
handed with these protocols instead of importing the cluster module back, so
the dependency runs one way: cluster -> plugins, schedulers -> shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tethys_compute.clusters.plugins.base import ClusterSetup
    from tethys_compute.clusters.providers.base import NodeInfo, Provider
    from tethys_compute.remote import RemoteHost

__all__ = ["ClusterNode", "ClusterView"]


class ClusterNode(Protocol):
    """A machine of a cluster, as plugins see it."""

    info: NodeInfo

    @property
    def alias(self) -> str: ...

    @property
    def ip_address(self) -> str: ...

    @property
    def private_ip_address(self) -> str: ...

    @property
    def ssh(self) -> RemoteHost: ...

    @property
    def cluster(self) -> ClusterView: ...

    def is_master(self) -> bool: ...


class ClusterView(Protocol):
    """A cluster, as its plugins and the scheduler registry see it."""

    cluster_tag: str
    template: dict[str, Any]

    @property
    def state(self) -> dict[str, Any]: ...

    @property
    def provider(self) -> Provider: ...

    @property
    def master_node(self) -> ClusterNode: ...

    @property
    def plugins(self) -> list[ClusterSetup]: ...

    def save_state(self) -> None: ...
