"""The :class:`ClusterConfig` a cluster config file is read into."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from tethys_compute.clusters.config_parser import _display
from tethys_compute.clusters.exceptions import (
    ClusterTemplateDoesNotExist,
    KeyNotFound,
    NoDefaultTemplateFound,
    PluginNotFound,
)

logger = logging.getLogger("tethys_compute.clusters.config")


class ClusterConfig:
    """The contents of a cluster config file, typed and resolved.

    Built by :func:`load_config`; every attribute is a plain ``dict``.

    Attributes
    ----------
    path : str
        The main config file.
    globals : dict
        ``[global]``: ``default_template``, ``enable_experimental``,
        ``refresh_interval``, ``web_browser``, ``include``.
    aws : dict or None
        ``[aws info]`` after environment overrides, or ``None`` if neither
        the file nor the environment gives it.
    azure : dict or None
        ``[azure info]``, likewise.
    keys : dict
        Key name -> ``{"key_location": path}``.
    plugins : dict
        Plugin name -> ``{"__name__": name, "setup_class": dotted path, ...}``
        with every other setting as a raw string (lower-case names).
    volumes : dict
        Volume name -> ``{"volume_id", "mount_path", "device", "partition"}``.
    permissions : dict
        Permission name -> ``{"ip_protocol", "from_port", "to_port", "cidr_ip"}``.
    clusters : dict
        Template name -> resolved template, whose keys are the lower-case
        setting names (TethysCluster's ``Cluster`` keyword arguments) plus
        ``key_location`` (from the key), ``node_instance_types`` (the
        ``type[:image][:count]`` items of NODE_INSTANCE_TYPE as dicts with
        ``type``, ``image`` and ``size``); ``node_instance_type`` is the
        default type (the last item), ``node_hosts`` a list of ``(host,
        port)``, ``plugins`` a list of plugin dicts and ``volumes`` and
        ``permissions`` dicts of name -> section.
    warnings : list of str
        What was ignored while reading (unknown settings and sections), as
        also logged.
    """

    def __init__(
        self,
        path: str,
        globals: dict[str, Any],
        aws: dict[str, Any] | None,
        azure: dict[str, Any] | None,
        keys: dict[str, dict[str, Any]],
        plugins: dict[str, dict[str, Any]],
        volumes: dict[str, dict[str, Any]],
        permissions: dict[str, dict[str, Any]],
        clusters: dict[str, dict[str, Any]],
    ) -> None:
        self.path = path
        self.globals = globals
        self.aws = aws
        self.azure = azure
        self.keys = keys
        self.plugins = plugins
        self.volumes = volumes
        self.permissions = permissions
        self.clusters = clusters
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        # Never the values: [aws info] holds secrets.
        return f"<ClusterConfig {self.path!r}: templates {', '.join(sorted(self.clusters))}>"

    def get_cluster_template(self, name: str) -> dict[str, Any]:
        """Return a copy of the resolved cluster template ``name``.

        Parameters
        ----------
        name : str
            The NAME of a ``[cluster NAME]`` section.

        Returns
        -------
        dict
            See :attr:`clusters`; changing it does not change this config.

        Raises
        ------
        ClusterTemplateDoesNotExist
            No such template; the message lists those that exist.
        """
        try:
            template = self.clusters[name]
        except KeyError:
            raise ClusterTemplateDoesNotExist(
                name,
                self.clusters,
                msg=(
                    f"{_display(self.path)}: cluster template {name!r} does not exist; "
                    f"available templates: {', '.join(sorted(self.clusters)) or '(none)'}. "
                    f"Add a [cluster {name}] section or use one of those."
                ),
            ) from None
        return copy.deepcopy(template)

    @property
    def default_template(self) -> str:
        """The name of the template set by ``[global] DEFAULT_TEMPLATE``.

        Raises
        ------
        NoDefaultTemplateFound
            DEFAULT_TEMPLATE is not set, or names no ``[cluster]`` section.
        """
        name = self.globals.get("default_template")
        available = ", ".join(sorted(self.clusters)) or "(none)"
        if not name:
            raise NoDefaultTemplateFound(
                self.clusters,
                msg=(
                    f"{_display(self.path)}: [global] has no DEFAULT_TEMPLATE. Set "
                    f"DEFAULT_TEMPLATE to the name of one of your cluster templates: "
                    f"{available}."
                ),
            )
        if name not in self.clusters:
            raise NoDefaultTemplateFound(
                self.clusters,
                msg=(
                    f"{_display(self.path)}: [global] setting DEFAULT_TEMPLATE: there is no "
                    f"[cluster {name}] section. Set DEFAULT_TEMPLATE to one of: {available}, "
                    f"or add a [cluster {name}] section."
                ),
            )
        return str(name)

    def get_key(self, name: str) -> dict[str, Any]:
        """Return a copy of the ``[key name]`` section.

        Raises
        ------
        KeyNotFound
            No such key section.
        """
        if name not in self.keys:
            raise KeyNotFound(name, msg=self._not_defined("key", name, self.keys))
        return dict(self.keys[name])

    def get_plugin(self, name: str) -> dict[str, Any]:
        """Return a copy of the ``[plugin name]`` section.

        Raises
        ------
        PluginNotFound
            No such plugin section.
        """
        if name not in self.plugins:
            raise PluginNotFound(name, msg=self._not_defined("plugin", name, self.plugins))
        return dict(self.plugins[name])

    def _not_defined(self, kind: str, name: str, defined: Mapping[str, object]) -> str:
        return (
            f"{_display(self.path)}: there is no [{kind} {name}] section; defined: "
            f"{', '.join(sorted(defined)) or '(none)'}. Add a [{kind} {name}] section or use "
            "one of those."
        )
