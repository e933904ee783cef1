"""A cluster's plugins, its validation, and the step that makes it running.

:class:`ClusterPlugins` loads the plugins a template lists (the Dask plugin is
implied for ssh clusters), runs their hooks on the running nodes, checks the
settings before anything starts, and ends every operation that leaves the
cluster running: its scheduler is registered and ``RUN`` recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tethys_compute.clusters.cluster_nodes import ClusterNodes, Node
from tethys_compute.clusters.cluster_state import logger
from tethys_compute.clusters.exceptions import (
    ClusterValidationError,
    MasterDoesNotExist,
    PluginError,
)
from tethys_compute.clusters.plugins.base import ClusterSetup, load_plugin
from tethys_compute.clusters.providers import provider_class
from tethys_compute.clusters.schedulers import register_scheduler
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.models.cluster import ClusterStatus, validate_cluster_name

__all__ = ["DASK_SETUP_CLASS", "ClusterPlugins"]

#: The built-in Dask plugin, implied for ssh clusters that do not list it.
DASK_SETUP_CLASS = "tethys_compute.clusters.plugins.dask.DaskSetup"


class ClusterPlugins(ClusterNodes):
    """The plugins of a cluster and the checks before it starts."""

    # ---------------------------------------------------------- validation
    def validate(self) -> None:
        """Check the settings before starting (TethysCluster's ``validate``).

        Raises
        ------
        ClusterValidationError
            With what is wrong and what to do.
        """
        try:
            validate_cluster_name(self.cluster_tag)
        except Exception:  # noqa: BLE001 - Django's ValidationError, re-raised as ours
            raise ClusterValidationError(
                f"cluster name {self.cluster_tag!r} is not valid: use 1 to 64 letters, "
                "digits, '-' or '_'."
            ) from None
        self._check_size(self.template["cluster_size"])
        if self.cloud_provider == "ssh":
            hosts = self.template.get("node_hosts") or []
            if len(hosts) < self.cluster_size:
                raise ClusterValidationError(
                    f"cluster {self.cluster_tag!r}: CLUSTER_SIZE = {self.cluster_size} but "
                    f"NODE_HOSTS lists {len(hosts)} host(s); list more hosts or lower the size."
                )
        self.provider.check()  # builds it: unknown or unavailable providers fail here too
        self.plugins  # noqa: B018 - imports them: bad plugins fail before anything starts

    def is_valid(self) -> bool:
        """True when :meth:`validate` passes."""
        try:
            self.validate()
        except TethysComputeError:
            return False
        return True

    # ------------------------------------------------------------- plugins
    @property
    def plugins(self) -> list[ClusterSetup]:
        """The cluster's plugins, loaded (the Dask plugin is implied for ssh clusters)."""
        if self._plugins is None:
            sections = list(self.template.get("plugins") or [])
            classes = {str(s.get("setup_class")) for s in sections}
            if self.cloud_provider == "ssh" and DASK_SETUP_CLASS not in classes:
                sections.insert(0, {"__name__": "dask", "setup_class": DASK_SETUP_CLASS})
            plugins = []
            for section in sections:
                plugin = load_plugin(section)
                if not provider_class(self.cloud_provider).has_machines:
                    if str(section.get("setup_class")) == DASK_SETUP_CLASS:
                        continue  # the local provider runs Dask itself
                    if plugin.needs_machines:
                        raise PluginError(
                            f"plugin {plugin.name!r} configures machines over SSH, but the "
                            f"nodes of a {self.cloud_provider} cluster are processes; remove "
                            "it from PLUGINS or use the ssh or AWS provider."
                        )
                plugins.append(plugin)
            self._plugins = plugins
        return self._plugins

    def run_plugins(
        self,
        plugins: Sequence[ClusterSetup] | None = None,
        method_name: str = "run",
        node: Node | None = None,
        reverse: bool = False,
    ) -> None:
        """Call ``method_name`` of every plugin (in reverse order if ``reverse``)."""
        if self.template.get("skip_setup"):
            return
        chosen = list(self.plugins if plugins is None else plugins)
        for plugin in reversed(chosen) if reverse else chosen:
            self.run_plugin(plugin, method_name=method_name, node=node)

    def run_plugin(
        self,
        plugin: ClusterSetup,
        name: str = "",
        method_name: str = "run",
        node: Node | None = None,
    ) -> None:
        """Call one hook of one plugin; ``NotImplementedError`` means "nothing to do"."""
        plugin.cluster = self
        nodes = self.running_nodes
        master = next((n for n in nodes if n.is_master()), None)
        if master is None:
            raise MasterDoesNotExist(f"cluster {self.cluster_tag!r}: the master is not running.")
        user = str(self.template.get("cluster_user"))
        shell = str(self.template.get("cluster_shell"))
        volumes = self.template.get("volumes")
        label = name or plugin.name or type(plugin).__name__
        self._progress(self._current_status(), f"running plugin {label} ({method_name})")
        hook = getattr(plugin, method_name)
        try:
            if node is not None:
                hook(node, nodes, master, user, shell, volumes)
            else:
                hook(nodes, master, user, shell, volumes)
        except NotImplementedError:
            logger.debug("plugin %s has no %s", label, method_name)
        except TethysComputeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's own error, reported with its name
            raise PluginError(f"plugin {label} failed in {method_name}: {exc}") from exc
        finally:
            self.save_state()

    # ------------------------------------------------------------- running
    def _finish_running(self, message: str) -> None:
        """Register the cluster's scheduler and record ``RUN`` with ``message``."""
        master = self.master_node
        registered = register_scheduler(self)
        fields: dict[str, Any] = {
            "master_address": master.ip_address,
            "size": self.cluster_size,
        }
        if registered is not None:
            fields["scheduler"] = registered
            message += f"; scheduler {registered.name!r} at {registered.host}"
        if self._record is not None:
            self._record.set_status(ClusterStatus.RUNNING, message, **fields)
        if self.progress_callback is not None:
            self.progress_callback(ClusterStatus.RUNNING, message)
        logger.info("cluster %s: %s", self.cluster_tag, message)
