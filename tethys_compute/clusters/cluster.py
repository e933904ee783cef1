"""A cluster and its nodes: TethysCluster's ``Cluster`` and ``Node`` on Python 3.

A :class:`Cluster` is made from a resolved config template (keyword arguments
override the template's values) and is tied to a row of the Django model
:class:`tethys_compute.models.Cluster`, which records its status and the
provider's state, so the cluster can be found again from any process.  Its
methods do the work synchronously and record progress on the row as they go;
:mod:`tethys_compute.clusters.service` runs them off the request thread.

Lifecycle (TethysCluster's status codes): ``STR`` while starting, ``RUN``
once every node runs, the plugins ran and the scheduler is registered,
``UPD`` while resizing, ``STP`` after :meth:`Cluster.stop_cluster`, ``DEL``
while terminating (the row is deleted at the end) and ``ERR`` with the reason
in ``status_message`` when an operation failed.

The class is made of parts, one module each (every name of this module is
still imported from here): the settings, row and provider
(:mod:`~tethys_compute.clusters.cluster_state`), the nodes and
:class:`Node` (:mod:`~tethys_compute.clusters.cluster_nodes`), the plugins,
validation and the running step (:mod:`~tethys_compute.clusters.cluster_plugins`),
adding and removing nodes (:mod:`~tethys_compute.clusters.cluster_resize`),
start, stop and terminate (:mod:`~tethys_compute.clusters.cluster_lifecycle`)
and the status check against the nodes and the Dask scheduler
(:mod:`~tethys_compute.clusters.cluster_health`).
"""

from __future__ import annotations

from tethys_compute.clusters.cluster_health import ClusterHealth
from tethys_compute.clusters.cluster_lifecycle import ClusterLifecycle
from tethys_compute.clusters.cluster_nodes import _NODE_ALIAS as _NODE_ALIAS
from tethys_compute.clusters.cluster_nodes import Node
from tethys_compute.clusters.cluster_plugins import DASK_SETUP_CLASS as DASK_SETUP_CLASS
from tethys_compute.clusters.cluster_resize import ClusterResize
from tethys_compute.clusters.cluster_state import _OVERRIDE_FIELDS as _OVERRIDE_FIELDS
from tethys_compute.clusters.cluster_state import _STATUS_FIELDS as _STATUS_FIELDS
from tethys_compute.clusters.cluster_state import TAG_PREFIX
from tethys_compute.clusters.cluster_state import ProgressCallback as ProgressCallback
from tethys_compute.clusters.cluster_state import logger as logger
from tethys_compute.clusters.cluster_state import strip_tag as strip_tag

# The parts' other names (imported "as" themselves above) stay importable from here too.
__all__ = ["Cluster", "Node", "TAG_PREFIX"]


class Cluster(ClusterLifecycle, ClusterResize, ClusterHealth):
    """A cluster made from a config template (TethysCluster's ``Cluster``).

    Usually obtained from a :class:`~tethys_compute.clusters.manager.ClusterManager`
    (``get_cluster_template``, ``get_cluster``), not built directly.

    Parameters
    ----------
    config : ClusterConfig
        The config file the template comes from.
    template_name : str
        The NAME of the ``[cluster NAME]`` section.
    cluster_tag : str, optional
        The cluster's name; default ``cluster<YYYYmmddHHMM>`` as in TethysCluster.
    record : tethys_compute.models.Cluster, optional
        The row of an existing cluster.
    **kwargs
        Template settings to override, by their lower-case names
        (``cluster_size=3``, ``node_instance_type="t3.small"``...).  Unlike
        TethysCluster, these win over the template's values.

    Examples
    --------
    >>> from tethys_sdk.compute import get_cluster_manager
    >>> manager = get_cluster_manager("/path/to/config")          # doctest: +SKIP
    >>> cluster = manager.get_cluster_template("dev", "mycluster")  # doctest: +SKIP
    >>> cluster.update({"cluster_size": 3})                         # doctest: +SKIP
    >>> cluster.start()                                             # doctest: +SKIP
    >>> cluster.is_cluster_up()                                     # doctest: +SKIP
    True
    """
