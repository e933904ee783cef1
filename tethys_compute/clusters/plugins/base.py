"""TethysCluster's plugin shape: :class:`ClusterSetup` and loading ``[plugin]`` sections.

A plugin is a class named by ``SETUP_CLASS`` in a ``[plugin NAME]`` section;
every other setting of the section is passed to its constructor, by name, as
a string (as TethysCluster did).  The cluster calls its hooks with the
cluster's :class:`~tethys_compute.clusters.cluster.Node` objects; a hook that
raises :class:`NotImplementedError` is skipped.  Before any hook runs,
``plugin.cluster`` is set to the cluster (new: lets a plugin keep state in
``cluster.state`` and register a scheduler through :meth:`ClusterSetup.scheduler_record`).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tethys_compute.clusters.exceptions import PluginError, PluginLoadError, PluginSyntaxError

if TYPE_CHECKING:
    from tethys_compute.clusters.shapes import ClusterNode as Node
    from tethys_compute.clusters.shapes import ClusterView as Cluster

__all__ = ["ALIASES", "ClusterSetup", "load_plugin", "HOOKS"]

#: TethysCluster's and StarCluster's plugin classes -> ours, so old config files work.
_CONDOR_SETUP = "tethys_compute.clusters.plugins.condor.CondorSetup"
ALIASES: dict[str, str] = {
    "tethyscluster.plugins.condor.CondorPlugin": _CONDOR_SETUP,
    "starcluster.plugins.condor.CondorPlugin": _CONDOR_SETUP,
}

#: The hook names, in TethysCluster's spelling.
HOOKS = ("run", "on_add_node", "on_remove_node", "on_restart", "on_shutdown")


class ClusterSetup:
    """Base class of cluster plugins (TethysCluster's ``clustersetup.ClusterSetup``).

    Override any of the hooks; the defaults raise :class:`NotImplementedError`,
    which the cluster takes as "nothing to do".

    Attributes
    ----------
    cluster : Cluster or None
        The cluster the hooks are run for (set before each call).
    needs_machines : bool
        Whether the plugin configures nodes over SSH (so it cannot run on a
        ``local`` cluster, whose nodes are processes).
    """

    needs_machines: bool = True

    def __init__(self, **kwargs: Any) -> None:
        self.cluster: Cluster | None = None
        self.name = ""

    def run(
        self, nodes: Sequence[Node], master: Node, user: str, user_shell: str, volumes: Any
    ) -> None:
        """Set the plugin up on a new cluster."""
        raise NotImplementedError

    def on_add_node(
        self,
        node: Node,
        nodes: Sequence[Node],
        master: Node,
        user: str,
        user_shell: str,
        volumes: Any,
    ) -> None:
        """Set the plugin up on a node added to a running cluster."""
        raise NotImplementedError

    def on_remove_node(
        self,
        node: Node,
        nodes: Sequence[Node],
        master: Node,
        user: str,
        user_shell: str,
        volumes: Any,
    ) -> None:
        """Clean up before ``node`` leaves the cluster."""
        raise NotImplementedError

    def on_restart(
        self, nodes: Sequence[Node], master: Node, user: str, user_shell: str, volumes: Any
    ) -> None:
        """Bring the plugin back after the nodes were restarted."""
        raise NotImplementedError

    def on_shutdown(
        self, nodes: Sequence[Node], master: Node, user: str, user_shell: str, volumes: Any
    ) -> None:
        """Clean up before the cluster is terminated."""
        raise NotImplementedError

    def scheduler_record(self) -> dict[str, Any] | None:
        """The scheduler this plugin runs, registered when the cluster reaches running.

        Returns
        -------
        dict or None
            ``{"kind": "dask", "host": ..., "dashboard": ...}`` or
            ``{"kind": "condor", "host": ..., "username": ..., ...}``.
        """
        return None


def load_plugin(section: dict[str, Any]) -> ClusterSetup:
    """Import and construct the plugin of a resolved ``[plugin NAME]`` section.

    Parameters
    ----------
    section : dict
        ``{"__name__": NAME, "setup_class": dotted path, other settings...}``.

    Returns
    -------
    ClusterSetup

    Raises
    ------
    PluginSyntaxError
        The plugin's module does not compile.
    PluginLoadError
        The module or class cannot be found, or the class is not a ClusterSetup.
    PluginError
        The section lacks a setting the constructor needs, or gives unknown ones.
    """
    name = str(section.get("__name__", "?"))
    dotted = str(section["setup_class"])
    dotted = ALIASES.get(dotted, dotted)
    module_name, _, class_name = dotted.rpartition(".")
    where = f"[plugin {name}] SETUP_CLASS = {dotted}"
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise PluginSyntaxError(f"{where}: the module has a syntax error: {exc}") from exc
    except ImportError as exc:
        raise PluginLoadError(
            f"{where}: cannot import {module_name!r} ({exc}); install it or fix the path."
        ) from exc
    klass = getattr(module, class_name, None)
    if not (inspect.isclass(klass) and issubclass(klass, ClusterSetup)):
        raise PluginLoadError(
            f"{where}: {class_name!r} is not a ClusterSetup subclass in {module_name}."
        )
    arguments = {k: v for k, v in section.items() if k not in ("__name__", "setup_class")}
    signature = inspect.signature(klass)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    known = {n for n, p in signature.parameters.items() if p.kind is not p.VAR_KEYWORD}
    unknown = sorted(set(arguments) - known)
    if unknown and not takes_any:
        raise PluginError(
            f"[plugin {name}]: {class_name} takes no setting(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(known)) or '(none)'}."
        )
    missing = [
        n
        for n, p in signature.parameters.items()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in arguments
    ]
    if missing:
        raise PluginError(
            f"[plugin {name}]: {class_name} needs the setting(s) "
            f"{', '.join(m.upper() for m in missing)}; add them to the section."
        )
    try:
        plugin = klass(**arguments)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"[plugin {name}]: {class_name} rejected its settings: {exc}") from exc
    plugin.name = name
    return plugin
