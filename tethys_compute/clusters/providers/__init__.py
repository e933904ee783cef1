"""Cluster providers: where nodes come from (``local``, ``ssh``, ``aws``, ``htcondor``).

:func:`get_provider` picks the class for a template's ``CLOUD_PROVIDER``; the
classes are imported on first use, so ``boto3`` is only needed for AWS.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tethys_compute.clusters.exceptions import ProviderError
from tethys_compute.clusters.providers.base import NodeInfo, NodeSpec, Provider

if TYPE_CHECKING:
    from tethys_compute.clusters.config import ClusterConfig

__all__ = [
    "PROVIDER_CLASSES",
    "NodeInfo",
    "NodeSpec",
    "Provider",
    "get_provider",
    "provider_class",
]

#: ``CLOUD_PROVIDER`` (normalised) -> dotted path of its provider class.
PROVIDER_CLASSES: dict[str, str] = {
    "local": "tethys_compute.clusters.providers.local.LocalProvider",
    "ssh": "tethys_compute.clusters.providers.ssh.SSHProvider",
    "aws": "tethys_compute.clusters.providers.aws.AWSProvider",
    "azure": "tethys_compute.clusters.providers.azure.AzureProvider",
    "htcondor": "tethys_compute.clusters.providers.htcondor.HTCondorProvider",
}


def get_provider(
    name: str,
    config: ClusterConfig,
    template: dict[str, Any],
    state: dict[str, Any],
    credentials: dict[str, str] | None = None,
) -> Provider:
    """Build the provider for ``CLOUD_PROVIDER = name``.

    Raises
    ------
    AzureNotAvailable
        For ``azure``: the provider is not available yet (raised by its class).
    ProviderError
        For a name that no provider serves.
    """
    return provider_class(name)(config, template, state, credentials)


def provider_class(name: str) -> type[Provider]:
    """The provider class for ``CLOUD_PROVIDER = name`` (imported, not built).

    Raises
    ------
    ProviderError
        For a name that no provider serves.
    """
    key = name.lower()
    if key not in PROVIDER_CLASSES:
        raise ProviderError(
            f"unknown CLOUD_PROVIDER {name!r}; use one of: {', '.join(PROVIDER_CLASSES)}."
        )
    module_name, _, class_name = PROVIDER_CLASSES[key].rpartition(".")
    module = importlib.import_module(module_name)
    klass: type[Provider] = getattr(module, class_name)
    return klass
