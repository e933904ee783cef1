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
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.views.decorators.debug import sensitive_variables

from tethys_compute.clusters.active_jobs import check_active_jobs
from tethys_compute.clusters.config import CLOUD_PROVIDERS, MAX_CLUSTER_SIZE
from tethys_compute.clusters.exceptions import (
    AzureNotAvailable,
    ClusterExists,
    ClusterValidationError,
    InstanceDoesNotExist,
    InvalidOperation,
    MasterDoesNotExist,
    NoClusterNodesFound,
    PluginError,
    ProviderError,
    TethysClusterError,
)
from tethys_compute.clusters.plugins.base import ClusterSetup, load_plugin
from tethys_compute.clusters.providers import get_provider, provider_class
from tethys_compute.clusters.providers.base import NodeInfo, NodeSpec, Provider
from tethys_compute.clusters.schedulers import register_scheduler, unregister_scheduler
from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import (
    InvalidArgumentError,
    SchedulerConnectionError,
    TethysComputeError,
)
from tethys_compute.models import Cluster as ClusterRecord
from tethys_compute.models import DaskScheduler
from tethys_compute.models.cluster import PROVIDER_CODES, ClusterStatus, validate_cluster_name

if TYPE_CHECKING:
    from tethys_compute.clusters.config import ClusterConfig
    from tethys_compute.remote import RemoteHost

__all__ = ["Cluster", "Node", "TAG_PREFIX"]

logger = logging.getLogger(__name__)

#: TethysCluster's prefix of security group names (``@tc-<tag>``).
TAG_PREFIX = "@tc-"
_NODE_ALIAS = re.compile(r"^node(\d{3,})$")
#: The built-in Dask plugin, implied for ssh clusters that do not list it.
DASK_SETUP_CLASS = "tethys_compute.clusters.plugins.dask.DaskSetup"
#: Template settings shown by ``Cluster`` as attributes (TethysCluster's names).
_OVERRIDE_FIELDS = (
    "master_image_id",
    "node_image_id",
    "master_instance_type",
    "node_instance_type",
)

ProgressCallback = Callable[[str, str], None]
#: Columns re-read before a status check (never ``provider_state``: the
#: provider holds that dict and changes it in place).
_STATUS_FIELDS = ["status", "status_message", "status_changed", "size"]


def strip_tag(name: str) -> str:
    """``@tc-name`` -> ``name`` (TethysCluster accepted both spellings)."""
    return name[len(TAG_PREFIX) :] if name.startswith(TAG_PREFIX) else name


class Node:
    """One node of a cluster (TethysCluster's ``Node``).

    Attributes
    ----------
    alias : str
        ``master`` or ``nodeNNN``.
    id : str
        The provider's id (process id, ``host:port`` or EC2 instance id).
    state : str
        ``pending``, ``running``, ``stopping``, ``stopped``...
    ip_address, private_ip_address, dns_name : str
        Where the node is reached.
    """

    def __init__(self, cluster: Cluster, info: NodeInfo) -> None:
        self.cluster = cluster
        self.info = info

    alias = property(lambda self: self.info.alias)
    id = property(lambda self: self.info.id)
    state = property(lambda self: self.info.state)
    ip_address = property(lambda self: self.info.address)
    private_ip_address = property(lambda self: self.info.private_address or self.info.address)
    dns_name = property(lambda self: self.info.address)

    def __repr__(self) -> str:
        return f"<Node: {self.alias} ({self.id}) {self.state}>"

    def is_master(self) -> bool:
        """True for the master node."""
        return self.info.is_master

    def is_up(self) -> bool:
        """True when the node runs."""
        return self.info.state == "running"

    @property
    def ssh(self) -> RemoteHost:
        """A :class:`~tethys_compute.remote.RemoteHost` on the node (host key verified).

        Raises
        ------
        InvalidOperation
            The node is not a machine (``local`` clusters' nodes are processes).
        """
        remote = self.cluster.provider.remote(self.info)
        if remote is None:
            raise InvalidOperation(
                f"node {self.alias} of cluster {self.cluster.cluster_tag!r} is not a machine "
                f"one can log in to ({self.cluster.cloud_provider} provider)."
            )
        return remote

    def terminate(self) -> None:
        """Remove this node from its cluster (not the master)."""
        self.cluster.remove_node(self)

    def shutdown(self) -> None:
        """Stop this node (providers that can stop nodes)."""
        self.cluster.provider.stop_nodes(self.cluster.cluster_tag, [self.info])
        self.cluster.save_state()


class Cluster:
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

    def __init__(
        self,
        config: ClusterConfig,
        template_name: str,
        cluster_tag: str | None = None,
        record: ClusterRecord | None = None,
        **kwargs: Any,
    ) -> None:
        self.config = config
        self.template_name = template_name
        self.template: dict[str, Any] = config.get_cluster_template(template_name)
        tag = strip_tag(cluster_tag) if cluster_tag else None
        self.cluster_tag = tag or f"cluster{datetime.datetime.now():%Y%m%d%H%M}"
        self._record = record
        self._provider: Provider | None = None
        self._plugins: list[ClusterSetup] | None = None
        #: Called as ``callback(status, message)`` on every progress step.
        self.progress_callback: ProgressCallback | None = None
        #: After ``terminate_cluster(force=True)``: what may be left at the
        #: provider because its cleanup failed ("" when all was removed).
        self.leftovers = ""
        if record is not None:
            self._apply_record(record)
        self.update(kwargs)

    # ------------------------------------------------------------ settings
    def __repr__(self) -> str:
        return f"<Cluster: {self.cluster_tag!r} ({self.template_name}, {self.cloud_provider})>"

    def __getattr__(self, name: str) -> Any:
        template = self.__dict__.get("template")
        if template is not None and name in template:
            return template[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def get(self, name: str) -> Any:
        """Return the setting ``name`` (lower-case), TethysCluster's ``Cluster.get``."""
        return self.template.get(name)

    def update(self, settings: dict[str, Any]) -> None:
        """Override template settings (only names the template knows).

        Raises
        ------
        InvalidArgumentError
            For an unknown setting name (a ``ValueError``).
        """
        unknown = sorted(set(settings) - set(self.template))
        if unknown:
            raise InvalidArgumentError(
                f"unknown cluster setting(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(self.template))}."
            )
        for key, value in settings.items():
            if key == "cluster_size":
                value = self._check_size(value)
            if key == "node_instance_type" and isinstance(value, list):
                value = value[-1] if value else None
            self.template[key] = value
        if "cloud_provider" in settings:
            self._provider = None

    @staticmethod
    def _check_size(value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= MAX_CLUSTER_SIZE
        ):
            raise InvalidArgumentError(
                f"cluster_size must be a whole number from 1 to {MAX_CLUSTER_SIZE} (the master "
                f"included), not {str(value)[:40]!r}."
            )
        return value

    def _apply_record(self, record: ClusterRecord) -> None:
        self.template["cluster_size"] = int(record.size)
        for field in _OVERRIDE_FIELDS:
            value = getattr(record, field)
            if value:
                self.template[field] = value

    @property
    def cloud_provider(self) -> str:
        """``local``, ``ssh``, ``aws`` or ``azure``."""
        return str(self.template["cloud_provider"])

    @property
    def cluster_size(self) -> int:
        """The number of nodes, the master included."""
        return int(self.template["cluster_size"])

    @property
    def record(self) -> ClusterRecord | None:
        """The cluster's row, or None before :meth:`start` created it."""
        return self._record

    @property
    def state(self) -> dict[str, Any]:
        """The provider and plugin state persisted in the row."""
        if self._record is not None:
            return self._record.provider_state
        state: dict[str, Any] = self.__dict__.setdefault("_state", {})
        return state

    @sensitive_variables()
    def _credentials(self) -> dict[str, str]:
        record = self._record
        if record is None:
            return {}
        found = {}
        for field in ("aws_access_key_id", "aws_secret_access_key"):
            if record.has_secret(field):
                found[field] = str(getattr(record, field))
        return found

    @property
    def provider(self) -> Provider:
        """The provider of this cluster's nodes (chosen by ``CLOUD_PROVIDER``)."""
        if self._provider is None:
            try:
                self._provider = get_provider(
                    self.cloud_provider, self.config, self.template, self.state, self._credentials()
                )
            except AzureNotAvailable as exc:
                raise AzureNotAvailable(
                    f"{self.config.path}: [cluster {self.template_name}] sets CLOUD_PROVIDER = "
                    f"Azure. {exc}"
                ) from None
        return self._provider

    def _reload(self) -> None:
        """Re-read the whole row; the provider is rebuilt on the fresh state."""
        if self._record is not None:
            self._record.refresh_from_db()
            self._provider = None

    def save_state(self) -> None:
        """Write the provider state to the row (one UPDATE)."""
        record = self._record
        if record is not None:
            type(record).objects.filter(pk=record.pk).update(provider_state=record.provider_state)

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

    # ------------------------------------------------------------- records
    def _progress(self, status: str, message: str) -> None:
        logger.info("cluster %s: %s", self.cluster_tag, message)
        if self._record is not None:
            self._record.set_status(status, message)
        if self.progress_callback is not None:
            self.progress_callback(status, message)

    def _fail(self, exc: BaseException, doing: str) -> None:
        message = f"{doing} failed: {exc}"
        logger.error("cluster %s: %s", self.cluster_tag, message)
        if self._record is not None:
            self._record.set_status(ClusterStatus.ERROR, message)
        if self.progress_callback is not None:
            self.progress_callback(ClusterStatus.ERROR, message)

    def _ensure_record(self) -> ClusterRecord:
        if self._record is not None:
            self._reload()
            return self._record
        values: dict[str, Any] = {
            "template": self.template_name,
            "config_path": self.config.path,
            "provider": PROVIDER_CODES[self.cloud_provider],
            "size": self.cluster_size,
            "status": ClusterStatus.STARTING,
            "status_message": "queued: starting",
        }
        for field in _OVERRIDE_FIELDS:
            value = self.template.get(field)
            values[field] = str(value) if value else ""
        try:
            with transaction.atomic():
                record = ClusterRecord.objects.create(name=self.cluster_tag, **values)
        except IntegrityError:
            raise ClusterExists(self.cluster_tag) from None
        self._record = record
        self._provider = None
        return record

    # --------------------------------------------------------------- nodes
    @property
    def nodes(self) -> list[Node]:
        """The nodes that are not terminated, master first."""
        return [Node(self, info) for info in self.provider.list_nodes(self.cluster_tag)]

    @property
    def running_nodes(self) -> list[Node]:
        """The nodes in state ``running``."""
        return [node for node in self.nodes if node.is_up()]

    @property
    def stopped_nodes(self) -> list[Node]:
        """The nodes in state ``stopped``."""
        return [node for node in self.nodes if node.state == "stopped"]

    @property
    def master_node(self) -> Node:
        """The master node.

        Raises
        ------
        MasterDoesNotExist
        """
        for node in self.nodes:
            if node.is_master():
                return node
        raise MasterDoesNotExist(f"cluster {self.cluster_tag!r} has no master node.")

    def get_node(self, identifier: str) -> Node:
        """The node with this alias, id or address.

        Raises
        ------
        InstanceDoesNotExist
        """
        for node in self.nodes:
            if identifier in (node.alias, node.id, node.ip_address, node.private_ip_address):
                return node
        raise InstanceDoesNotExist(identifier, label="node")

    def get_nodes(self, ids: Iterable[str]) -> list[Node]:
        """The nodes with these aliases or ids."""
        return [self.get_node(identifier) for identifier in ids]

    def get_nodes_or_raise(self) -> list[Node]:
        """The nodes; :class:`NoClusterNodesFound` when there are none."""
        nodes = self.nodes
        if not nodes:
            raise NoClusterNodesFound(f"cluster {self.cluster_tag!r} has no active nodes.")
        return nodes

    def is_cluster_up(self) -> bool:
        """True when every one of ``cluster_size`` nodes runs (master included)."""
        nodes = self.nodes
        return (
            len(nodes) >= self.cluster_size
            and all(node.is_up() for node in nodes)
            and any(node.is_master() for node in nodes)
        )

    def is_cluster_stopped(self) -> bool:
        """True when the cluster has nodes and all of them are stopped."""
        nodes = self.nodes
        return bool(nodes) and all(node.state == "stopped" for node in nodes)

    def is_cluster_terminated(self) -> bool:
        """True when the provider holds nothing of this cluster any more."""
        return not self.provider.group_exists(self.cluster_tag)

    def _free_aliases(self, count: int, taken: Iterable[str]) -> list[str]:
        used = set(taken)
        aliases: list[str] = []
        number = 1
        while len(aliases) < count:
            alias = f"node{number:03d}"
            if alias not in used:
                aliases.append(alias)
            number += 1
        return aliases

    def _specs(self, aliases: Sequence[str]) -> list[NodeSpec]:
        """Image and instance type per alias, from NODE_INSTANCE_TYPE's groups."""
        node_image = self.template.get("node_image_id")
        node_type = self.template.get("node_instance_type")
        queue: list[tuple[str | None, str | None]] = []
        for group in self.template.get("node_instance_types") or []:
            queue += [(group["type"], group["image"] or node_image)] * int(group["size"])
        specs = []
        workers = 0
        for alias in aliases:
            if alias == "master":
                specs.append(
                    NodeSpec(
                        alias,
                        self.template.get("master_image_id") or node_image,
                        self.template.get("master_instance_type") or node_type,
                    )
                )
                continue
            index = int(alias[4:]) - 1 if _NODE_ALIAS.match(alias) else workers
            workers += 1
            kind, image = queue[index] if 0 <= index < len(queue) else (node_type, node_image)
            specs.append(NodeSpec(alias, image, kind))
        return specs

    def _timeout(self) -> float:
        return float(self.template.get("start_timeout") or 300)

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

    def _current_status(self) -> str:
        return self._record.status if self._record is not None else ClusterStatus.STARTING

    # ----------------------------------------------------------- lifecycle
    def start(self, create: bool = True, validate: bool = True) -> Cluster:
        """Start the cluster and wait until it is usable (TethysCluster's ``start``).

        Creates the row (``STR``), the nodes (master first), waits for them,
        runs the plugins, registers the scheduler and records ``RUN``.  A
        stopped cluster is started again; nodes that already run are kept.

        Parameters
        ----------
        create : bool
            Create missing nodes (False: only start stopped ones).
        validate : bool
            Check the settings first.

        Returns
        -------
        Cluster
            ``self``, running.

        Raises
        ------
        ClusterExists
            A cluster of this name exists and is not stopped or failed.
        TethysClusterError
            The start failed; the row says ``ERR`` with the reason.
        """
        if validate:
            self.validate()
        record = self._record
        if record is None:
            record = self._ensure_record()
        else:
            self._reload()
            if record.status == ClusterStatus.RUNNING and self.is_cluster_up():
                return self
            if record.status not in (
                ClusterStatus.STOPPED,
                ClusterStatus.ERROR,
                ClusterStatus.STARTING,
            ):
                raise ClusterExists(
                    self.cluster_tag,
                    msg=f"cluster {self.cluster_tag!r} is {record.get_status_display().lower()}; "
                    f"this operation is not possible now. {self._way_out()}",
                )
        try:
            self._start(create)
        except Exception as exc:
            self._fail(exc, "start")
            raise
        return self

    def _start(self, create: bool) -> None:
        tag = self.cluster_tag
        provider = self.provider
        started = time.monotonic()
        self._progress(ClusterStatus.STARTING, f"preparing {self.cloud_provider} resources")
        provider.create_group(tag)
        self.save_state()
        existing = provider.list_nodes(tag)
        stopped = [n for n in existing if n.state == "stopped"]
        if stopped:
            self._progress(ClusterStatus.STARTING, f"starting {len(stopped)} stopped node(s)")
            provider.start_nodes(tag, stopped)
            self.save_state()
        have = {n.alias for n in provider.list_nodes(tag)}
        wanted = ["master"] + self._worker_aliases(self.cluster_size - 1, have)
        missing = [alias for alias in wanted if alias not in have]
        if missing and create:
            self._progress(
                ClusterStatus.STARTING,
                f"creating {len(missing)} node(s): {', '.join(missing)}",
            )
            try:
                provider.create_nodes(tag, self._specs(missing))
            finally:
                self.save_state()
        remaining = max(self._timeout() - (time.monotonic() - started), 1.0)
        self._progress(ClusterStatus.STARTING, "waiting for the nodes to run")
        provider.wait_for_nodes(tag, wanted, remaining)
        self.save_state()
        if stopped and not missing:
            self.run_plugins(method_name="on_restart")
        else:
            self.run_plugins()
        self._finish_running("running")

    def _worker_aliases(self, count: int, have: Iterable[str]) -> list[str]:
        existing = sorted(a for a in have if _NODE_ALIAS.match(a))
        if len(existing) >= count:
            return existing[:count]
        return existing + self._free_aliases(count - len(existing), existing)

    def _finish_running(self, message: str) -> None:
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

    def _begin(self, status: str, message: str) -> None:
        """Move a running (or failed) cluster to a busy ``status``."""
        record = self._record
        if record is None:
            raise InvalidOperation(f"cluster {self.cluster_tag!r} was never started.")
        record.refresh_from_db(fields=_STATUS_FIELDS)
        if record.status != status and record.status in record.BUSY:
            raise InvalidOperation(
                f"cluster {self.cluster_tag!r} is {record.get_status_display().lower()}; this "
                f"operation is not possible now. {self._way_out()}"
            )
        self._progress(status, message)

    def _way_out(self) -> str:
        """What to do about a cluster busy with another operation."""
        return (
            f"Wait for that operation to end (it is marked failed after {self._timeout():g} s "
            f"without progress), or remove the cluster with `manage.py clusters terminate "
            f"{self.cluster_tag} --force` or the admin action 'Terminate (force)'."
        )

    def add_node(
        self,
        alias: str | None = None,
        no_create: bool = False,
        image_id: str | None = None,
        instance_type: str | None = None,
        zone: str | None = None,
        placement_group: str | None = None,
        spot_bid: float | None = None,
    ) -> Node:
        """Add one worker node; see :meth:`add_nodes`."""
        return self.add_nodes(
            1,
            aliases=[alias] if alias else None,
            no_create=no_create,
            image_id=image_id,
            instance_type=instance_type,
            zone=zone,
            placement_group=placement_group,
            spot_bid=spot_bid,
        )[0]

    def add_nodes(
        self,
        num_nodes: int,
        aliases: Sequence[str] | None = None,
        no_create: bool = False,
        image_id: str | None = None,
        instance_type: str | None = None,
        zone: str | None = None,
        placement_group: str | None = None,
        spot_bid: float | None = None,
    ) -> list[Node]:
        """Add ``num_nodes`` worker nodes to the running cluster (status ``UPD``).

        Aliases default to the next free ``nodeNNN``.  The plugins'
        ``on_add_node`` runs for each new node, then the size is recorded.

        Raises
        ------
        ClusterValidationError
            A duplicate alias, or ``master``.
        """
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
            raise InvalidArgumentError(f"num_nodes must be a whole number >= 1, not {num_nodes!r}")
        tag = self.cluster_tag
        have = {n.alias for n in self.nodes}
        if aliases:
            for alias in aliases:
                if alias == "master" or alias in have:
                    raise ClusterValidationError(
                        f"cluster {tag!r}: a node named {alias!r} already exists."
                    )
            new = list(aliases)[:num_nodes]
            new += self._free_aliases(num_nodes - len(new), have | set(new))
        else:
            new = self._free_aliases(num_nodes, have)
        if self.cloud_provider == "ssh":
            hosts = self.template.get("node_hosts") or []
            if len(have) + len(new) > len(hosts):
                raise ClusterValidationError(
                    f"cluster {tag!r}: NODE_HOSTS lists {len(hosts)} host(s), so the cluster "
                    f"cannot grow to {len(have) + len(new)} nodes; add hosts to the template."
                )
        self._begin(ClusterStatus.UPDATING, f"adding {len(new)} node(s): {', '.join(new)}")
        try:
            specs = self._specs(new)
            for spec in specs:
                spec.image_id = image_id or spec.image_id
                spec.instance_type = instance_type or spec.instance_type
            if not no_create:
                try:
                    self.provider.create_nodes(tag, specs)
                finally:
                    self.save_state()
            self.provider.wait_for_nodes(tag, new, self._timeout())
            self.save_state()
            added = [node for node in self.nodes if node.alias in new]
            for node in added:
                self.run_plugins(method_name="on_add_node", node=node)
            self.template["cluster_size"] = len(self.nodes)
            self._finish_running(f"running; added {', '.join(new)}")
        except Exception as exc:
            self._fail(exc, "adding nodes")
            raise
        return added

    def remove_node(
        self, node: Node | None = None, terminate: bool = True, force: bool = False
    ) -> None:
        """Remove one worker node (the highest-numbered one by default)."""
        self.remove_nodes(
            nodes=[node] if node else None, num_nodes=1, terminate=terminate, force=force
        )

    def remove_nodes(
        self,
        nodes: Sequence[Node] | None = None,
        num_nodes: int | None = None,
        terminate: bool = True,
        force: bool = False,
    ) -> None:
        """Remove worker nodes: ``nodes``, or the ``num_nodes`` highest-numbered ones.

        The plugins' ``on_remove_node`` runs first (``force``: errors there are
        logged and the node is removed anyway).

        Raises
        ------
        InvalidOperation
            When asked to remove the master.
        """
        current = self.nodes
        if nodes is None:
            if num_nodes is None or num_nodes < 1:
                raise InvalidArgumentError("give the nodes to remove or num_nodes >= 1")
            workers = sorted((n for n in current if not n.is_master()), key=lambda n: n.alias)
            if num_nodes > len(workers):
                raise InvalidOperation(
                    f"cluster {self.cluster_tag!r} has {len(workers)} worker node(s); cannot "
                    f"remove {num_nodes} (the master stays: terminate the cluster instead)."
                )
            chosen = list(reversed(workers))[:num_nodes]
        else:
            chosen = list(nodes)
        for node in chosen:
            if node.is_master():
                raise InvalidOperation(
                    f"cannot remove the master of cluster {self.cluster_tag!r}; terminate the "
                    "cluster instead."
                )
        names = ", ".join(n.alias for n in chosen)
        self._begin(ClusterStatus.UPDATING, f"removing {len(chosen)} node(s): {names}")
        try:
            for node in chosen:
                try:
                    self.run_plugins(method_name="on_remove_node", node=node)
                except TethysClusterError:
                    if not force:
                        raise
                    logger.exception("cluster %s: removing %s", self.cluster_tag, node.alias)
            if terminate:
                self.provider.terminate_nodes(self.cluster_tag, [n.info for n in chosen])
            else:
                self.provider.stop_nodes(self.cluster_tag, [n.info for n in chosen])
            self.save_state()
            self.template["cluster_size"] = len(
                [n for n in self.nodes if n.state not in ("stopped", "stopping")]
            )
            self._finish_running(f"running; removed {names}")
        except Exception as exc:
            self._fail(exc, "removing nodes")
            raise

    def resize(self, size: int) -> Cluster:
        """Grow or shrink the cluster to ``size`` nodes (the master included).

        Examples
        --------
        >>> cluster.resize(4)   # doctest: +SKIP
        """
        size = self._check_size(size)
        current = len(self.nodes)
        if size > current:
            self.add_nodes(size - current)
        elif size < current:
            self.remove_nodes(num_nodes=current - size)
        return self

    def stop_cluster(self, terminate_unstoppable: bool = False, force: bool = False) -> None:
        """Stop every node, keeping the cluster to :meth:`start` again (status ``STP``).

        Local clusters stop their processes (the scheduler keeps its port),
        AWS clusters stop their instances (EBS-backed), ssh clusters stop the
        Dask processes on their hosts.

        While the cluster's schedulers have active jobs, nothing is touched
        and :class:`~tethys_compute.clusters.active_jobs.ClusterHasActiveJobs`
        names them; with ``force`` they are stopped first (Aborted, with the
        reason), and plugin failures at shutdown do not stop the operation.
        """
        # Before anything is touched: refuse under active jobs, or stop them (force).
        check_active_jobs(self.cluster_tag, self._scheduler_names(), "stop", force=force)
        self._begin(ClusterStatus.UPDATING, "stopping")
        try:
            nodes = self.nodes
            try:
                self.run_plugins(method_name="on_shutdown", reverse=True)
            except TethysClusterError:
                if not force:
                    raise
                logger.exception("cluster %s: plugins at stop", self.cluster_tag)
            workers = [n.info for n in nodes if not n.is_master()]
            masters = [n.info for n in nodes if n.is_master()]
            try:
                self.provider.stop_nodes(self.cluster_tag, workers + masters)
            except InvalidOperation:
                if not terminate_unstoppable:
                    raise
                self.provider.terminate_nodes(self.cluster_tag, workers + masters)
            self.save_state()
            unregister_scheduler(self)
            if self._record is not None:
                self._record.set_status(ClusterStatus.STOPPED, "stopped; start it to resume")
        except Exception as exc:
            self._fail(exc, "stop")
            raise

    def terminate_cluster(self, force: bool = False) -> None:
        """Terminate every node and remove the cluster (status ``DEL``, then the row goes).

        The plugins' ``on_shutdown`` runs first (reverse order), then the
        provider removes the nodes and the group, then the cluster's
        scheduler record is deleted and the row with it.

        Parameters
        ----------
        force : bool
            Stop the jobs still active on the cluster's schedulers first
            (they become Aborted, with the reason; without ``force`` their
            presence refuses the termination before anything is touched), and
            go on when plugins fail or the master is unreachable.
        """
        # Before anything is touched: refuse under active jobs, or stop them (force).
        check_active_jobs(self.cluster_tag, self._scheduler_names(), "terminate", force=force)
        record = self._record
        if record is not None:
            record.refresh_from_db(fields=_STATUS_FIELDS)
            self._progress(ClusterStatus.DELETING, "terminating")
        try:
            try:
                if self.running_nodes:
                    self.run_plugins(method_name="on_shutdown", reverse=True)
            except TethysComputeError as exc:
                if not force:
                    raise
                logger.warning(
                    "cluster %s: plugins at shutdown failed (%s); going on (force)",
                    self.cluster_tag,
                    exc,
                )
            try:
                nodes = self.nodes
                if nodes:
                    self._progress(ClusterStatus.DELETING, f"terminating {len(nodes)} node(s)")
                    self.provider.terminate_nodes(self.cluster_tag, [n.info for n in nodes])
                    self.save_state()
                self._progress(ClusterStatus.DELETING, "removing the cluster's resources")
                self.provider.delete_group(self.cluster_tag)
                self.save_state()
            except ProviderError as exc:
                if not force:
                    raise
                self.leftovers = (
                    f"the {self.cloud_provider} provider could not remove the cluster's "
                    f"resources ({exc}); {self._leftover_description()} may be left: check "
                    "and remove them by hand."
                )
                logger.warning("cluster %s: %s", self.cluster_tag, self.leftovers)
            unregister_scheduler(self)
        except Exception as exc:
            self._fail(exc, "terminate")
            raise
        finally:
            if self._provider is not None:
                self._provider.close()
        if record is not None:
            type(record).objects.filter(pk=record.pk).delete()
            self._record = None
        if self.progress_callback is not None:
            self.progress_callback(ClusterStatus.DELETING, "terminated")
        logger.info("cluster %s terminated", self.cluster_tag)

    def _scheduler_names(self) -> list[str]:
        """The scheduler records this cluster registered (its jobs run there)."""
        return [str(name) for name in self.state.get("schedulers") or []]

    def _leftover_description(self) -> str:
        """What the provider may still hold for this cluster (from the recorded state)."""
        state = self.state
        tag = self.cluster_tag
        if self.cloud_provider in CLOUD_PROVIDERS:
            group = f"security group @tc-{tag}"
            if state.get("group_id"):
                group += f" ({state['group_id']})"
            text = f"the {group} and the instances in it (tagged alias, in that group)"
            if state.get("spot_requests"):
                text += f", spot requests {', '.join(map(str, state['spot_requests']))}"
            region = (self.config.aws or {}).get("aws_region_name") or "us-east-1"
            return f"{text} in region {region}"
        nodes = state.get("nodes") or {}
        if self.cloud_provider == "ssh":
            hosts = sorted({f"{h}:{p}" for h, p in self.template.get("node_hosts") or []})
            return f"Dask processes of cluster {tag!r} on {', '.join(hosts) or 'its hosts'}"
        pids = sorted(str(n.get("pid")) for n in nodes.values() if n.get("pid"))
        return f"local Dask processes {', '.join(pids) or 'of the cluster'}"

    def refresh_status(self) -> str:
        """Compare the row's status with the nodes and correct it; return the status.

        ``RUN`` becomes ``ERR`` when nodes are missing or down, or when the
        cluster's Dask scheduler does not answer or misses workers; ``ERR``
        becomes ``RUN`` when all is well again (and the scheduler had been
        registered).  Busy statuses are left alone (the operation records its
        own outcome).
        """
        record = self._record
        if record is None:
            raise InvalidOperation(f"cluster {self.cluster_tag!r} was never started.")
        record.refresh_from_db(fields=_STATUS_FIELDS)
        if record.status in record.BUSY:
            return str(record.status)
        try:
            running = record.status == ClusterStatus.RUNNING
            healed = self.provider.heal(self.cluster_tag) if running else ""
            if running:
                self.save_state()  # heal() may also record what it saw
            if healed:
                logger.info("cluster %s: %s", self.cluster_tag, healed)
                record.set_status(
                    ClusterStatus.RUNNING, f"running; {healed}", size=self.cluster_size
                )
                return str(record.status)
            up = self.is_cluster_up()
        except ProviderError as exc:
            record.set_status(ClusterStatus.ERROR, f"cannot read the nodes: {exc}")
            return str(record.status)
        if record.status == ClusterStatus.RUNNING and not up:
            nodes = self.nodes
            record.set_status(
                ClusterStatus.ERROR,
                f"{len([n for n in nodes if n.is_up()])} of {self.cluster_size} node(s) run; "
                "start the cluster again to replace the missing ones.",
            )
            return str(record.status)
        if not up or record.status not in (ClusterStatus.RUNNING, ClusterStatus.ERROR):
            return str(record.status)
        problem = self._dask_problem()
        if record.status == ClusterStatus.RUNNING and problem:
            record.set_status(
                ClusterStatus.ERROR,
                f"{problem.rstrip('. ')}; start the cluster again to restart what is missing.",
            )
        elif record.status == ClusterStatus.ERROR and not problem and self.state.get("schedulers"):
            record.set_status(ClusterStatus.RUNNING, "running")
        return str(record.status)

    def _dask_problem(self) -> str:
        """What is wrong with the cluster's registered Dask scheduler, or ``""``.

        The scheduler must answer (within ``DASK_CONNECT_TIMEOUT``) and have a
        worker for every node but the master.
        """
        # Imported here: dask_client loads distributed, which only Dask checks need.
        from tethys_compute.dask_client import scheduler_identity

        names = list(self.state.get("schedulers") or [])
        for scheduler in DaskScheduler.objects.filter(name__in=names):
            timeout = float(scheduler.timeout or compute_settings.DASK_CONNECT_TIMEOUT)
            if scheduler.ssh_tunnel_id is not None:  # only reachable through SSH
                result = scheduler.test_connection()
                if not result.ok:
                    name = scheduler.name
                    return f"the Dask scheduler {name!r} does not answer ({result.summary})"
                have = int(result.details.get("n_workers") or 0)
            else:
                try:
                    info = scheduler_identity(scheduler.host, timeout, label=scheduler.name)
                except SchedulerConnectionError as exc:
                    return f"the Dask scheduler {scheduler.name!r} does not answer ({exc})"
                have = len(info.get("workers") or {})
            wanted = self.cluster_size - 1
            if have < wanted:
                return f"{have} of {wanted} Dask worker(s) are connected to {scheduler.host}"
        return ""
