"""The ``condor`` plugin: an HTCondor pool made of the cluster's nodes.

It writes the HTCondor configuration TethysCluster's ``CondorPlugin`` wrote
(a file ``tethyscluster`` in the node's ``LOCAL_CONFIG_DIR``): the master is
the central manager (``DAEMON_LIST = MASTER, STARTD, SCHEDD, COLLECTOR,
NEGOTIATOR``), every node runs ``MASTER, STARTD, SCHEDD``, jobs start at once
and are never preempted or suspended, the dedicated scheduler is the
master's, and authentication is ``FS``/``FS_REMOTE`` with ``FS_REMOTE_DIR``.
Everything travels through the SSH layer (host keys verified); the plugin
installs nothing: the image must have HTCondor, as TethysCluster's did.

Use it as TethysCluster did (its ``SETUP_CLASS`` is accepted as an alias)::

    [plugin condor]
    SETUP_CLASS = tethys_compute.clusters.plugins.condor.CondorSetup
    # optional:
    USE_SUDO = True                # CLUSTER_USER is a sudoer, config dir is root's
    LOCAL_CONFIG_DIR = /etc/condor/config.d   # else asked: condor_config_val
    START_COMMAND = condor_master  # what (re)starts HTCondor after configuring
    FS_REMOTE_DIR = /home/._condor_tmp
    FLOCK_FROM = portal.example.org  # the portal's submit host may flock jobs here

Differences from TethysCluster, on purpose: ``CONDOR_HOST`` and the
``ALLOW_*`` lists name the nodes' addresses (TethysCluster relied on host
names ``master``/``node*`` that its default setup wrote into ``/etc/hosts``,
which we do not touch); commands run as ``CLUSTER_USER`` (with ``sudo -n``
when ``USE_SUDO``), not as root; HTCondor is stopped with ``condor_off``
instead of ``pkill condor``.

The cluster's scheduler record is a ``CondorScheduler`` on the master, logging
in as ``CLUSTER_USER`` with the template's key.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tethys_compute.clusters.exceptions import PluginError
from tethys_compute.clusters.plugins.base import ClusterSetup

if TYPE_CHECKING:
    from tethys_compute.clusters.shapes import ClusterNode as Node
    from tethys_compute.clusters.shapes import ClusterView as Cluster
    from tethys_compute.remote import CommandResult

__all__ = ["CondorSetup", "FS_REMOTE_DIR", "CONFIG_FILE_NAME", "condor_config"]

logger = logging.getLogger(__name__)

#: The name of the file written into ``LOCAL_CONFIG_DIR`` (TethysCluster's).
CONFIG_FILE_NAME = "tethyscluster"
#: Shared directory of FS_REMOTE authentication (TethysCluster's).
FS_REMOTE_DIR = "/home/._condor_tmp"
_TRUE = ("1", "yes", "true", "on")


def condor_config(
    master: str,
    allowed: Sequence[str],
    is_master: bool,
    fs_remote_dir: str,
    flock_from: Sequence[str] = (),
) -> str:
    """The HTCondor configuration of one node.

    Parameters
    ----------
    master : str
        The central manager's address (``CONDOR_HOST``).
    allowed : sequence of str
        Addresses of every node (they may administer, read and write).
    is_master : bool
        Whether this node is the central manager.
    fs_remote_dir : str
        ``FS_REMOTE_DIR``.
    flock_from : sequence of str
        Hosts (the portal's submit host) whose jobs may flock to this pool;
        written on the master as ``FLOCK_FROM`` and allowed to write.

    Examples
    --------
    >>> text = condor_config("10.0.0.1", ["10.0.0.1", "10.0.0.2"], True, "/home/._condor_tmp")
    >>> "DAEMON_LIST = MASTER, STARTD, SCHEDD, COLLECTOR, NEGOTIATOR" in text
    True
    >>> text = condor_config("10.0.0.1", ["10.0.0.1"], True, "/x", ["portal.example.org"])
    >>> "FLOCK_FROM = portal.example.org" in text
    True
    """
    daemons = ["MASTER", "STARTD", "SCHEDD"] + (["COLLECTOR", "NEGOTIATOR"] if is_master else [])
    hosts = ", ".join(dict.fromkeys(["$(CONDOR_HOST)", *allowed]))
    settings = [
        ("CONDOR_HOST", master),
        ("UID_DOMAIN", "$(CONDOR_HOST)"),
        ("FILESYSTEM_DOMAIN", "$(CONDOR_HOST)"),
        ("TRUST_UID_DOMAIN", "True"),
        ("DAEMON_LIST", ", ".join(daemons)),
        ("ALLOW_ADMINISTRATOR", hosts),
        ("ALLOW_OWNER", f"$(FULL_HOSTNAME), $(ALLOW_ADMINISTRATOR), {hosts}"),
        ("ALLOW_READ", f"$(FULL_HOSTNAME), {hosts}"),
        ("ALLOW_WRITE", f"$(FULL_HOSTNAME), {hosts}"),
        ("SCHEDD_HOST", "$(CONDOR_HOST)@$(CONDOR_HOST)"),
        ("SCHEDD_NAME", "$(FULL_HOSTNAME)@$(FULL_HOSTNAME)"),
        ("START", "True"),
        ("SUSPEND", "False"),
        ("CONTINUE", "True"),
        ("PREEMPT", "False"),
        ("KILL", "False"),
        ("WANT_SUSPEND", "False"),
        ("WANT_VACATE", "False"),
        ("RANK", "Scheduler =?= $(DedicatedScheduler)"),
        ("DedicatedScheduler", '"DedicatedScheduler@$(CONDOR_HOST)"'),
        ("STARTD_ATTRS", "$(STARTD_ATTRS), DedicatedScheduler"),
        ("SEC_DEFAULT_AUTHENTICATION_METHODS", "FS, FS_REMOTE"),
        ("FS_REMOTE_DIR", fs_remote_dir),
    ]
    if is_master and flock_from:
        settings.append(("FLOCK_FROM", ", ".join(flock_from)))
        settings.append(("ALLOW_WRITE", "$(ALLOW_WRITE), $(FLOCK_FROM)"))
        settings.append(("ALLOW_NEGOTIATOR_SCHEDD", "$(CONDOR_HOST), $(FLOCK_FROM)"))
    lines = ["# Written by tethys-compute's condor cluster plugin (TethysCluster's layout)."]
    lines += [f"{name} = {value}" for name, value in settings]
    return "\n".join(lines) + "\n"


class CondorSetup(ClusterSetup):
    """Configure and start HTCondor on every node (see the module notes).

    Parameters
    ----------
    use_sudo : str or bool
        Run the configuration commands with ``sudo -n`` (default False).
    local_config_dir : str, optional
        Where the configuration file goes; default: ``condor_config_val
        LOCAL_CONFIG_DIR`` on each node.
    start_command : str
        The command that starts HTCondor after configuring (default
        ``condor_master``); ``condor_off -master`` stops it first.
    fs_remote_dir : str
        ``FS_REMOTE_DIR``, created on the master with mode 1777.
    flock_from : str, optional
        Comma list of submit hosts (the portal's) allowed to flock jobs to the
        pool (TethysCluster's Tethys integration did this by hand).
    """

    def __init__(
        self,
        use_sudo: str | bool = False,
        local_config_dir: str | None = None,
        start_command: str = "condor_master",
        fs_remote_dir: str = FS_REMOTE_DIR,
        flock_from: str | None = None,
    ) -> None:
        super().__init__()
        self.flock_from = [h.strip() for h in (flock_from or "").split(",") if h.strip()]
        self.use_sudo = str(use_sudo).strip().lower() in _TRUE
        self.local_config_dir = local_config_dir or None
        self.start_command = shlex.split(start_command or "condor_master")
        self.fs_remote_dir = fs_remote_dir or FS_REMOTE_DIR

    def _cluster(self) -> Cluster:
        if self.cluster is None:
            raise PluginError("the condor plugin was called without a cluster")
        return self.cluster

    # ------------------------------------------------------------- commands
    def _run(self, node: Node, argv: Sequence[str], *, check: bool = True) -> CommandResult:
        command = ["sudo", "-n", *argv] if self.use_sudo else list(argv)
        result = node.ssh.run(command, timeout=120)
        if check and not result.ok:
            hint = ""
            if result.exit_status == 127:
                hint = " (not installed? the image must have HTCondor)"
            raise PluginError(
                f"node {node.alias}: {' '.join(argv)} failed with exit status "
                f"{result.exit_status}{hint}: {result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    def _config_dir(self, node: Node) -> str:
        if self.local_config_dir:
            return self.local_config_dir
        result = self._run(node, ["condor_config_val", "LOCAL_CONFIG_DIR"])
        directory = result.stdout.strip().splitlines()[-1:] if result.stdout.strip() else []
        if not directory:
            raise PluginError(
                f"node {node.alias}: HTCondor has no LOCAL_CONFIG_DIR; set LOCAL_CONFIG_DIR in "
                "the [plugin condor] section."
            )
        return directory[0]

    def _configure(self, node: Node, nodes: Sequence[Node], master: Node) -> None:
        directory = self._config_dir(node)
        text = condor_config(
            master.private_ip_address,
            [n.private_ip_address for n in nodes],
            node.is_master(),
            self.fs_remote_dir,
            self.flock_from,
        )
        target = f"{directory.rstrip('/')}/{CONFIG_FILE_NAME}"
        self._run(node, ["mkdir", "-p", directory])
        if self.use_sudo:
            staging = f".tethys-cluster/{CONFIG_FILE_NAME}.{node.alias}"
            node.ssh.run(["mkdir", "-p", ".tethys-cluster"], timeout=60)
            node.ssh.put_bytes(text.encode(), staging)
            self._run(node, ["cp", staging, target])
        else:
            node.ssh.put_bytes(text.encode(), target)
        self._run(node, ["condor_off", "-master", "-fast"], check=False)
        self._run(node, self.start_command)
        state: dict[str, Any] = self._cluster().state.setdefault("condor", {})
        state.setdefault("configured", {})[node.alias] = target
        logger.info("HTCondor configured on %s (%s)", node.alias, target)

    # --------------------------------------------------------------- hooks
    def run(
        self, nodes: Sequence[Node], master: Node, user: str, user_shell: str, volumes: Any
    ) -> None:
        """Configure the master, then every other node."""
        self._run(master, ["mkdir", "-p", self.fs_remote_dir])
        self._run(master, ["chmod", "1777", self.fs_remote_dir])
        self._configure(master, nodes, master)
        for node in nodes:
            if not node.is_master():
                self._configure(node, nodes, master)

    def on_add_node(
        self,
        node: Node,
        nodes: Sequence[Node],
        master: Node,
        user: str,
        user_shell: str,
        volumes: Any,
    ) -> None:
        """Configure the new node (every node's ALLOW lists name the pool's nodes)."""
        self._configure(node, nodes, master)

    def on_remove_node(
        self,
        node: Node,
        nodes: Sequence[Node],
        master: Node,
        user: str,
        user_shell: str,
        volumes: Any,
    ) -> None:
        """Take the node out of the pool peacefully, then stop HTCondor on it."""
        self._run(
            master, ["condor_off", "-peaceful", "-name", node.private_ip_address], check=False
        )
        self._run(node, ["condor_off", "-master", "-fast"], check=False)
        self._cluster().state.setdefault("condor", {}).setdefault("configured", {}).pop(
            node.alias, None
        )

    def scheduler_record(self) -> dict[str, Any] | None:
        """A ``CondorScheduler`` on the master, as ``CLUSTER_USER`` with the template's key."""
        cluster = self._cluster()
        master = cluster.master_node
        port = int(master.info.details.get("port") or 22)
        record: dict[str, Any] = {
            "kind": "condor",
            "host": master.ip_address,
            "port": port,
            "username": str(cluster.template.get("cluster_user") or ""),
        }
        if cluster.template.get("key_location"):
            record["private_key_path"] = str(cluster.template["key_location"])
        return record
