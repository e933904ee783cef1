"""The cluster manager: TethysCluster config files, providers and cluster lifecycle.

* :mod:`~tethys_compute.clusters.config` reads TethysCluster config files
  (with ``config_schema``, ``config_parser``, ``config_reader``,
  ``config_resolve`` and ``config_types``);
* :mod:`~tethys_compute.clusters.manager` has :func:`get_cluster_manager` and
  :class:`ClusterManager`, :mod:`~tethys_compute.clusters.cluster` the
  :class:`Cluster` and :class:`Node` objects;
* :mod:`~tethys_compute.clusters.providers` (``local``, ``ssh``, ``aws``;
  Azure not yet) and :mod:`~tethys_compute.clusters.plugins` (``dask``,
  ``condor``) do the work;
* :mod:`~tethys_compute.clusters.service` runs operations off the request
  thread (:mod:`~tethys_compute.clusters.work`: the claim and the thread) and
  :mod:`~tethys_compute.clusters.schedulers` registers the clusters'
  schedulers; plugins and the registry see a cluster through the protocols
  of :mod:`~tethys_compute.clusters.shapes`;
* :mod:`~tethys_compute.clusters.exceptions` holds the errors.

Importing this package does not import the Django models; import
:mod:`tethys_compute.clusters.manager` (or :mod:`tethys_sdk.compute`) once
Django is set up.
"""

from __future__ import annotations

from tethys_compute.clusters.config import ClusterConfig, load_config

__all__ = ["ClusterConfig", "load_config"]
