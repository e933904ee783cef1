"""The cluster manager: TethysCluster's ``ClusterManager`` and ``get_cluster_manager``.

Examples
--------
The specification's first example, with a real config file:

>>> from tethys_sdk.compute import get_cluster_manager
>>> cluster_manager = get_cluster_manager('/path/to/TethysCluster/config/file')  # doctest: +SKIP
>>> cluster = cluster_manager.get_default_template_cluster('mycluster')  # doctest: +SKIP
>>> cluster.start()  # doctest: +SKIP
>>> cluster.master_node.ip_address  # doctest: +SKIP
'127.0.0.1'
"""

from __future__ import annotations

import logging
import os
from typing import Any

from django.db import IntegrityError, transaction

from tethys_compute.clusters.cluster import TAG_PREFIX, Cluster, Node, strip_tag
from tethys_compute.clusters.config import ClusterConfig, load_config
from tethys_compute.clusters.exceptions import (
    ClusterDoesNotExist,
    ClusterNotRunning,
    ConfigError,
    IncompatibleCluster,
    PluginNotFound,
    ProviderError,
)
from tethys_compute.clusters.plugins.base import load_plugin
from tethys_compute.clusters.providers import get_provider
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models.cluster import ClusterStatus

__all__ = ["ClusterManager", "get_cluster_manager"]

logger = logging.getLogger(__name__)


class ClusterManager:
    """Find, make and change clusters described by one config file.

    Method names and meanings are TethysCluster's; cluster names may be given
    with or without the ``@tc-`` prefix.  Clusters are found through their
    rows (:class:`tethys_compute.models.Cluster`), so a cluster started by one
    process (the admin, a command, a worker) is seen by every other.

    Parameters
    ----------
    config : ClusterConfig
        The loaded config file (see :func:`get_cluster_manager`).
    """

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.cfg = config  # TethysCluster's attribute name

    def __repr__(self) -> str:
        return f"<ClusterManager: {self.config.path!r}>"

    # ----------------------------------------------------------- templates
    def get_default_cluster_template(self) -> str:
        """The name of ``[global] DEFAULT_TEMPLATE``.

        Raises
        ------
        NoDefaultTemplateFound
            It is not set or names no template.
        """
        return self.config.default_template

    def get_cluster_template(
        self, template_name: str, tag_name: str | None = None, **kwargs: Any
    ) -> Cluster:
        """A new, unstarted cluster from template ``template_name``.

        Parameters
        ----------
        template_name : str
            The NAME of a ``[cluster NAME]`` section.
        tag_name : str, optional
            The cluster's name (default ``cluster<YYYYmmddHHMM>``).
        **kwargs
            Settings overriding the template's (they win, unlike TethysCluster).

        Raises
        ------
        ClusterTemplateDoesNotExist
            No such template; the message lists the others.

        Examples
        --------
        >>> cluster = manager.get_cluster_template('dev', 'c1', cluster_size=3)  # doctest: +SKIP
        """
        return Cluster(self.config, template_name, cluster_tag=tag_name, **kwargs)

    def get_default_template_cluster(self, tag_name: str | None = None, **kwargs: Any) -> Cluster:
        """A new cluster from the default template (see :meth:`get_cluster_template`)."""
        return self.get_cluster_template(self.get_default_cluster_template(), tag_name, **kwargs)

    # -------------------------------------------------------------- finding
    def _config_for(self, record: ClusterRecord) -> ClusterConfig:
        path = record.config_path
        if not path or os.path.abspath(os.path.expanduser(path)) == os.path.abspath(
            self.config.path
        ):
            return self.config
        return load_config(path)

    def _from_record(self, record: ClusterRecord) -> Cluster:
        try:
            config = self._config_for(record)
            template = record.template or config.default_template
            return Cluster(config, template, cluster_tag=record.name, record=record)
        except ConfigError as exc:
            raise IncompatibleCluster(
                f"cluster {record.name!r} was made from template {record.template!r} of "
                f"{record.config_path or self.config.path}, which cannot be used now: {exc}"
            ) from exc

    def get_cluster(
        self,
        cluster_name: str,
        group: Any = None,
        load_receipt: bool = True,
        load_plugins: bool = True,
        load_volumes: bool = True,
        require_keys: bool = True,
    ) -> Cluster:
        """The existing cluster ``cluster_name`` (``@tc-`` prefix optional).

        An AWS cluster without a row here (started by TethysCluster or by
        another portal) is found by its ``@tc-<name>`` security group and
        adopted: it gets a row, its size from the group's receipt.  The other
        arguments are accepted for TethysCluster compatibility.

        Raises
        ------
        ClusterDoesNotExist
            No such cluster (also a ``LookupError``).
        IncompatibleCluster
            Its template can no longer be read.
        """
        name = strip_tag(cluster_name)
        try:
            record = ClusterRecord.objects.get(name=name)
        except ClusterRecord.DoesNotExist:
            adopted = self._adopt(name)
            if adopted is None:
                raise ClusterDoesNotExist(
                    name,
                    msg=f"cluster {name!r} does not exist; list them with get_clusters() or "
                    "start one from a template.",
                ) from None
            record = adopted
        cluster = self._from_record(record)
        if load_plugins:
            cluster.plugins  # noqa: B018 - loads them, as TethysCluster did
        return cluster

    def get_cluster_or_none(self, cluster_name: str, **kwargs: Any) -> Cluster | None:
        """:meth:`get_cluster`, or None when the cluster does not exist."""
        try:
            return self.get_cluster(cluster_name, **kwargs)
        except ClusterDoesNotExist:
            return None

    def cluster_exists(self, tag_name: str) -> bool:
        """True when a cluster of this name exists."""
        return ClusterRecord.objects.filter(name=strip_tag(tag_name)).exists()

    def get_clusters(self, load_receipt: bool = True, load_plugins: bool = True) -> list[Cluster]:
        """Every cluster of the portal, by name (those that cannot be read are logged)."""
        clusters = []
        for record in ClusterRecord.objects.order_by("name"):
            try:
                clusters.append(self._from_record(record))
            except IncompatibleCluster:
                logger.warning("Skipping cluster %r: its template cannot be read", record.name)
        return clusters

    def list_clusters(
        self, cluster_groups: Any = None, show_ssh_status: bool = False
    ) -> list[dict[str, Any]]:
        """One summary dict per cluster (name, provider, size, status, master, scheduler).

        TethysCluster printed this; it is returned here for the caller to show.
        """
        rows = ClusterRecord.objects.select_related("scheduler").order_by("name")
        return [
            {
                "name": r.name,
                "template": r.template,
                "provider": r.get_provider_display(),
                "size": r.size,
                "status": r.status,
                "status_message": r.status_message,
                "master_address": r.master_address,
                "scheduler": r.scheduler.name if r.scheduler else None,
            }
            for r in rows
        ]

    # ------------------------------------------------------ AWS security groups
    def _aws_template(self) -> str | None:
        """The template AWS look-ups use: the default one if it is AWS, else the first."""
        names = sorted(n for n, t in self.config.clusters.items() if t["cloud_provider"] == "aws")
        default = self.config.globals.get("default_template")
        if default in names:
            return str(default)
        return names[0] if names else None

    def _aws_provider(self) -> Any:
        """An AWS provider for the config file's credentials (any AWS template)."""
        name = self._aws_template()
        if name is None:
            raise ConfigError(
                f"{self.config.path}: no template has CLOUD_PROVIDER = AWS, so there are no "
                "AWS credentials to look for security groups with."
            )
        return get_provider("aws", self.config, self.config.get_cluster_template(name), {})

    def _adopt(self, name: str) -> ClusterRecord | None:
        """A row for an AWS cluster known only by its ``@tc-<name>`` group, or None.

        Clusters started by TethysCluster (or by another portal) have no row
        here; their security group's receipt says how big they are.  The row
        takes the config file's AWS template and the status their nodes show.
        """
        template = self._aws_template()
        if template is None:
            return None
        try:
            group = self.get_cluster_group_or_none(name)
        except ProviderError as exc:
            logger.warning("Cannot look for the security group of %r: %s", name, exc)
            return None
        if group is None:
            return None
        core = group.get("core") or {}
        size = core.get("cluster_size")
        try:
            with transaction.atomic():
                record = ClusterRecord.objects.create(
                    name=name,
                    template=template,
                    config_path=self.config.path,
                    provider=ClusterRecord.Provider.AWS,
                    size=int(size) if isinstance(size, int) and size >= 1 else 1,
                    status=ClusterStatus.RUNNING,
                    status_message=f"adopted from security group {TAG_PREFIX}{name}",
                    provider_state={"group_id": group["group_id"], "adopted": True},
                )
        except IntegrityError:
            return ClusterRecord.objects.filter(name=name).first()
        cluster = Cluster(self.config, template, cluster_tag=name, record=record)
        cluster.refresh_status()
        record.refresh_from_db()
        logger.info("Adopted cluster %r from its security group", name)
        return record

    def get_cluster_security_groups(self) -> list[dict[str, Any]]:
        """Every ``@tc-*`` security group of the AWS account, with its decoded receipt.

        Finds clusters TethysCluster (or another portal) started too.  Each
        item is ``{"tag", "group_id", "version", "core", "user"}``.
        """
        groups: list[dict[str, Any]] = self._aws_provider().find_groups()
        return groups

    def get_cluster_group_or_none(self, cluster_name: str) -> dict[str, Any] | None:
        """The security group of cluster ``cluster_name`` (see above), or None."""
        tag = strip_tag(cluster_name)
        return next((g for g in self.get_cluster_security_groups() if g["tag"] == tag), None)

    def get_cluster_security_group(self, cluster_name: str) -> dict[str, Any]:
        """Like :meth:`get_cluster_group_or_none`; :class:`ClusterDoesNotExist` if absent."""
        group = self.get_cluster_group_or_none(cluster_name)
        if group is None:
            raise ClusterDoesNotExist(
                strip_tag(cluster_name),
                msg=f"there is no security group {TAG_PREFIX}{strip_tag(cluster_name)}",
            )
        return group

    def get_tag_from_sg(self, sg_name: str) -> str:
        """``@tc-name`` -> ``name``; :class:`ValueError` for other names."""
        if not sg_name.startswith(TAG_PREFIX):
            raise ValueError(
                f"{sg_name!r} is not a cluster security group (no {TAG_PREFIX} prefix)"
            )
        return sg_name[len(TAG_PREFIX) :]

    # ------------------------------------------------------------- changing
    def add_node(self, cluster_name: str, alias: str | None = None, **kwargs: Any) -> Node:
        """Add one node to a running cluster (:meth:`Cluster.add_node`)."""
        return self._running(cluster_name).add_node(alias=alias, **kwargs)

    def add_nodes(
        self, cluster_name: str, num_nodes: int, aliases: list[str] | None = None, **kwargs: Any
    ) -> list[Node]:
        """Add ``num_nodes`` nodes to a running cluster (:meth:`Cluster.add_nodes`)."""
        return self._running(cluster_name).add_nodes(num_nodes, aliases=aliases, **kwargs)

    def remove_node(
        self,
        cluster_name: str,
        alias: str | None = None,
        terminate: bool = True,
        force: bool = False,
    ) -> None:
        """Remove one node (by alias, default the highest-numbered)."""
        cluster = self._running(cluster_name)
        node = cluster.get_node(alias) if alias else None
        cluster.remove_node(node, terminate=terminate, force=force)

    def remove_nodes(
        self,
        cluster_name: str,
        num_nodes: int | None = None,
        aliases: list[str] | None = None,
        terminate: bool = True,
        force: bool = False,
    ) -> None:
        """Remove nodes by alias, or the ``num_nodes`` highest-numbered ones."""
        cluster = self._running(cluster_name)
        nodes = cluster.get_nodes(aliases) if aliases else None
        cluster.remove_nodes(nodes=nodes, num_nodes=num_nodes, terminate=terminate, force=force)

    def restart_cluster(self, cluster_name: str, reboot_only: bool = False) -> Cluster:
        """Start a stopped (or failed) cluster again."""
        return self.get_cluster(cluster_name).start()

    def stop_cluster(
        self, cluster_name: str, terminate_unstoppable: bool = False, force: bool = False
    ) -> None:
        """Stop a cluster's nodes (:meth:`Cluster.stop_cluster`)."""
        self._running(cluster_name).stop_cluster(
            terminate_unstoppable=terminate_unstoppable, force=force
        )

    def terminate_cluster(self, cluster_name: str, force: bool = False) -> None:
        """Terminate a cluster and delete its record (:meth:`Cluster.terminate_cluster`)."""
        self.get_cluster(cluster_name, load_plugins=False).terminate_cluster(force=force)

    def run_plugin(self, plugin_name: str, cluster_tag: str) -> None:
        """Run the ``run`` hook of plugin ``plugin_name`` on a running cluster."""
        cluster = self._running(cluster_tag)
        section = (
            self.config.get_plugin(plugin_name) if plugin_name in self.config.plugins else None
        )
        if section is None:
            raise PluginNotFound(plugin_name)
        cluster.run_plugin(load_plugin(section), name=plugin_name)

    def _running(self, cluster_name: str) -> Cluster:
        cluster = self.get_cluster(cluster_name)
        record = cluster.record
        if record is not None and record.status not in (
            ClusterStatus.RUNNING,
            ClusterStatus.ERROR,
        ):
            raise ClusterNotRunning(
                cluster.cluster_tag,
                msg=f"cluster {cluster.cluster_tag!r} is {record.get_status_display().lower()}, "
                "not running; start it (or wait for the current operation) and try again.",
            )
        return cluster


def get_cluster_manager(
    config_file: str | os.PathLike[str] | None = None, cache: bool = False
) -> ClusterManager:
    """Read a TethysCluster config file and return a :class:`ClusterManager` for it.

    Parameters
    ----------
    config_file : str or path-like, optional
        The config file; else ``$TETHYSCLUSTER_CONFIG``, else
        ``~/.tethyscluster/config``.
    cache : bool
        Accepted for TethysCluster compatibility (it was unused there too).

    Returns
    -------
    ClusterManager

    Raises
    ------
    ConfigNotFound
        The file does not exist.
    ConfigError
        The file is wrong; the message names file, section, setting and fix.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from tethys_sdk.compute import get_cluster_manager
    >>> path = pathlib.Path(tempfile.mkdtemp(), "config")
    >>> _ = path.write_text(
    ...     "[global]\\nDEFAULT_TEMPLATE = dev\\n"
    ...     "[cluster dev]\\nCLOUD_PROVIDER = local\\nCLUSTER_SIZE = 3\\n"
    ... )
    >>> cluster_manager = get_cluster_manager(str(path))
    >>> cluster_manager.get_default_cluster_template()
    'dev'
    >>> cluster = cluster_manager.get_default_template_cluster("mycluster", cluster_size=2)
    >>> cluster.cluster_tag, cluster.cloud_provider, cluster.cluster_size
    ('mycluster', 'local', 2)
    >>> cluster_manager.cluster_exists("mycluster")
    False
    """
    return ClusterManager(load_config(config_file))
