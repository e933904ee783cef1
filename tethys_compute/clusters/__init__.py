"""The cluster manager: TethysCluster config files, providers and cluster lifecycle.

:mod:`tethys_compute.clusters.config` reads TethysCluster config files and
:mod:`tethys_compute.clusters.exceptions` holds the cluster errors.
"""

from __future__ import annotations

from tethys_compute.clusters.config import ClusterConfig, load_config

__all__ = ["ClusterConfig", "load_config"]
