"""The ``Azure`` provider: not available yet.

TethysCluster drove Azure through the classic Service Management API, which
Microsoft has retired.  A working provider needs Azure Resource Manager
(``azure-mgmt-compute``, ``azure-mgmt-network``, ``azure-identity``, one
resource group ``tc-<tag>`` per cluster); until it is written, ``[azure
info]`` is read and checked, and a cluster whose template says
``CLOUD_PROVIDER = Azure`` fails with :class:`AzureNotAvailable` before
anything is created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from tethys_compute.clusters.exceptions import AzureNotAvailable
from tethys_compute.clusters.providers.base import NodeInfo, NodeSpec, Provider

if TYPE_CHECKING:
    from tethys_compute.clusters.config import ClusterConfig

__all__ = ["AzureProvider"]


class AzureProvider(Provider):
    """Raises :class:`AzureNotAvailable` when built (see the module notes)."""

    name: ClassVar[str] = "azure"

    def __init__(
        self,
        config: ClusterConfig,
        template: dict[str, Any],
        state: dict[str, Any],
        credentials: dict[str, str] | None = None,
    ) -> None:
        where = "" if config.azure else " (and the config file has no [azure info] either)"
        raise AzureNotAvailable(
            "The Azure cluster provider is not available yet: TethysCluster's Azure API "
            "(Service Management) is retired and the Resource Manager provider is not "
            f"written{where}. Use CLOUD_PROVIDER = AWS, ssh or local for this template."
        )

    def create_nodes(self, tag: str, specs: Sequence[NodeSpec]) -> list[NodeInfo]:
        raise AzureNotAvailable()

    def list_nodes(self, tag: str) -> list[NodeInfo]:
        raise AzureNotAvailable()

    def terminate_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        raise AzureNotAvailable()
