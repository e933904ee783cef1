"""The small interface every cluster provider implements.

A provider knows how to make, find, stop and remove the *nodes* of one
cluster on one kind of infrastructure; everything else (plugins, status,
schedulers) is the business of :class:`~tethys_compute.clusters.cluster.Cluster`.

A provider is built for one cluster from the config file, the resolved
template and the cluster's persisted ``state`` (a JSON-able dict stored in
the ``Cluster`` row's ``provider_state``).  It changes ``state`` in place;
the cluster saves it after every step, so a provider built later in another
process finds the same nodes.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from tethys_compute.clusters.exceptions import InvalidOperation

if TYPE_CHECKING:
    from tethys_compute.clusters.config import ClusterConfig
    from tethys_compute.remote import RemoteHost

__all__ = ["NodeInfo", "NodeSpec", "Provider", "NODE_STATES"]

#: The node states providers report (EC2's names, which TethysCluster used).
NODE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down", "terminated")


@dataclass
class NodeSpec:
    """What to create for one node.

    Attributes
    ----------
    alias : str
        ``master`` or ``nodeNNN``.
    image_id, instance_type : str or None
        For the cloud providers.
    """

    alias: str
    image_id: str | None = None
    instance_type: str | None = None


@dataclass
class NodeInfo:
    """One node as its provider sees it.

    Attributes
    ----------
    alias : str
        ``master`` or ``nodeNNN``.
    id : str
        The provider's id (process id, ``host:port``, EC2 instance id).
    state : str
        One of :data:`NODE_STATES`.
    address : str
        Where to reach it (public address when there is one).
    private_address : str
        The address inside the cluster's network.
    details : dict
        Provider-specific extras (instance type, image, pid...).
    """

    alias: str
    id: str
    state: str
    address: str = ""
    private_address: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_master(self) -> bool:
        """True for the master node (alias ``master`` or ``*-master``)."""
        return self.alias == "master" or self.alias.endswith("-master")


class Provider(abc.ABC):
    """Base class of the providers (``local``, ``ssh``, ``aws``).

    Parameters
    ----------
    config : ClusterConfig
        The whole config file (credentials live in ``config.aws``...).
    template : dict
        The cluster's resolved template, keyword overrides applied.
    state : dict
        The cluster's persisted provider state; changed in place.
    credentials : dict, optional
        Per-cluster credentials that override the config file's.
    """

    #: The ``CLOUD_PROVIDER`` value this class serves.
    name: ClassVar[str] = ""
    #: Whether nodes are machines that plugins configure over SSH.
    has_machines: ClassVar[bool] = True

    def __init__(
        self,
        config: ClusterConfig,
        template: dict[str, Any],
        state: dict[str, Any],
        credentials: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.template = template
        self.state = state
        self.credentials = dict(credentials or {})

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def check(self) -> None:  # noqa: B027 - optional hook
        """Check what can be checked before anything starts (``Cluster.validate`` calls it).

        Raises ``ClusterValidationError`` with what is wrong and the fix.
        """

    # -------------------------------------------------------------- groups
    def create_group(self, tag: str) -> None:  # noqa: B027 - optional hook
        """Prepare what the cluster's nodes share (a security group...)."""

    def delete_group(self, tag: str) -> None:  # noqa: B027 - optional hook
        """Remove what :meth:`create_group` made; the nodes are gone already."""

    def group_exists(self, tag: str) -> bool:
        """True when the provider still holds anything of cluster ``tag``."""
        return bool(self.list_nodes(tag))

    # --------------------------------------------------------------- nodes
    @abc.abstractmethod
    def create_nodes(self, tag: str, specs: Sequence[NodeSpec]) -> list[NodeInfo]:
        """Create (or start) the nodes ``specs`` and return them.

        Returning does not mean the nodes are usable; see :meth:`wait_for_nodes`.
        """

    @abc.abstractmethod
    def list_nodes(self, tag: str) -> list[NodeInfo]:
        """The cluster's nodes that are not terminated, sorted by alias."""

    def wait_for_nodes(self, tag: str, aliases: Sequence[str], timeout: float) -> list[NodeInfo]:
        """Wait until the nodes ``aliases`` run; return them (default: no wait)."""
        return [n for n in self.list_nodes(tag) if n.alias in aliases]

    @abc.abstractmethod
    def terminate_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        """Remove ``nodes`` for good (processes stopped, instances terminated)."""

    def stop_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        """Stop ``nodes`` so that :meth:`start_nodes` can bring them back."""
        raise InvalidOperation(f"the {self.name} provider cannot stop nodes; terminate instead.")

    def start_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
        """Start stopped ``nodes`` again."""
        raise InvalidOperation(f"the {self.name} provider cannot restart stopped nodes.")

    def remote(self, node: NodeInfo) -> RemoteHost | None:
        """A :class:`~tethys_compute.remote.RemoteHost` to run commands on ``node``."""
        return None

    def heal(self, tag: str) -> str:
        """Replace lost nodes of a running cluster on refresh; say what was done.

        Called by :meth:`~tethys_compute.clusters.cluster.Cluster.refresh_status`
        for a running cluster.  The default does nothing and returns ``""``.
        """
        return ""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections held by the provider."""

    # ------------------------------------------------------------ schedulers
    def dask_scheduler(self, master: NodeInfo) -> dict[str, Any] | None:
        """``{"host": address, "dashboard": ...}`` of a Dask scheduler the provider runs.

        Other keys are set on the ``DaskScheduler`` record too (``ssh_tunnel``).
        """
        return None
