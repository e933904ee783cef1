"""Cluster plugins: TethysCluster's :class:`ClusterSetup` hooks, and the built-in ones.

* :class:`~tethys_compute.clusters.plugins.dask.DaskSetup` (``dask``): a Dask
  scheduler on the master and a worker on every other node.
* :class:`~tethys_compute.clusters.plugins.condor.CondorSetup` (``condor``):
  the HTCondor pool configuration TethysCluster wrote.
"""

from __future__ import annotations

from tethys_compute.clusters.plugins.base import HOOKS, ClusterSetup, load_plugin

__all__ = ["HOOKS", "ClusterSetup", "load_plugin"]
