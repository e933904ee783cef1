"""The ``ssh`` provider: existing hosts, listed in the template's ``NODE_HOSTS``.

The first host is the master, the next ones the worker nodes (``node001`` is
the second host, and so on; repeat a host to run several nodes on it).  The
provider only hands out hosts: what runs on them comes from the plugins, and
the Dask plugin (:class:`~tethys_compute.clusters.plugins.dask.DaskSetup`) is
implied, so an ssh cluster is a Dask scheduler on the first host and workers
on the others.

Logging in uses :mod:`tethys_compute.ssh`: ``CLUSTER_USER`` with the private
key of ``KEYNAME``'s ``KEY_LOCATION``; host keys are verified against the
template's ``KNOWN_HOSTS`` file (default: ``TETHYS_COMPUTE['SSH_KNOWN_HOSTS']``).
``SSH_HOST_KEY_CHECK = False`` instead pins whatever key the host offers when
the node is first used, then keeps checking against it (say so only on a
network you trust).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from tethys_compute.clusters.exceptions import ClusterValidationError, ProviderError
from tethys_compute.clusters.providers.base import NodeInfo, NodeSpec, Provider
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.remote import RemoteHost
from tethys_compute.ssh import SSHHost, SSHTarget, scan_host_key

__all__ = ["SSHProvider", "remote_host"]

logger = logging.getLogger(__name__)


def remote_host(
    template: dict[str, Any], host: str, port: int, label: str = "", pinned: str | None = None
) -> RemoteHost:
    """A verified SSH connection to a cluster node, as the template's ``CLUSTER_USER``.

    Parameters
    ----------
    template : dict
        The resolved cluster template (user, key, known_hosts, host key check).
    host, port : str, int
        Where the node's sshd listens.
    label : str
        Unused in the connection; kept for messages.
    pinned : str, optional
        A host key to accept (``"ssh-ed25519 AAAA..."``) instead of known_hosts.

    Raises
    ------
    ClusterValidationError
        The template has no key to log in with.
    """
    key = template.get("key_location")
    if not key:
        raise ClusterValidationError(
            "the cluster's nodes are reached over SSH, but the template has no KEYNAME: set "
            "KEYNAME to a [key NAME] section whose KEY_LOCATION is the private key of "
            f"CLUSTER_USER ({template.get('cluster_user')})."
        )
    target = SSHTarget(
        host=host,
        port=int(port),
        username=str(template.get("cluster_user")),
        private_key_path=str(key),
        host_key=pinned,
        known_hosts=template.get("known_hosts") or None,
    )
    return SSHHost(target)


class SSHProvider(Provider):
    """Nodes are hosts of ``NODE_HOSTS`` (see the module notes).

    ``provider_state["nodes"]`` maps alias -> ``{"host", "port", "stopped",
    "host_key"}`` for the hosts in use.
    """

    name: ClassVar[str] = "ssh"

    @property
    def _nodes(self) -> dict[str, dict[str, Any]]:
        nodes: dict[str, dict[str, Any]] = self.state.setdefault("nodes", {})
        return nodes

    def _hosts(self) -> list[tuple[str, int]]:
        return [(str(h), int(p)) for h, p in self.template.get("node_hosts") or []]

    def _host_for(self, alias: str, taken: set[int]) -> int:
        hosts = self._hosts()
        if alias == "master":
            return 0
        if alias.startswith("node") and alias[4:].isdigit():
            index = int(alias[4:])
            if index < len(hosts) and index not in taken:
                return index
        for index in range(1, len(hosts)):
            if index not in taken:
                return index
        raise ClusterValidationError(
            f"no free host for node {alias}: NODE_HOSTS lists {len(hosts)} host(s) and all "
            "are in use; add hosts to the template."
        )

    def _info(self, alias: str, entry: dict[str, Any]) -> NodeInfo:
        return NodeInfo(
            alias=alias,
            id=f"{entry['host']}:{entry['port']}",
            state="stopped" if entry.get("stopped") else "running",
            address=str(entry["host"]),
            private_address=str(entry["host"]),
            details={"port": entry["port"], "index": entry.get("index")},
        )

    def create_nodes(self, tag: str, specs: Sequence[NodeSpec]) -> list[NodeInfo]:
        taken = {int(e.get("index", -1)) for e in self._nodes.values()}
        hosts = self._hosts()
        for spec in specs:
            index = self._host_for(spec.alias, taken)
            taken.add(index)
            host, port = hosts[index]
            self._nodes[spec.alias] = {"host": host, "port": port, "index": index}
        return [self._info(s.alias, self._nodes[s.alias]) for s in specs]

    def list_nodes(self, tag: str) -> list[NodeInfo]:
        infos = [self._info(alias, entry) for alias, entry in self._nodes.items()]
        return sorted(infos, key=lambda n: (0 if n.is_master else 1, n.alias))

    def remote(self, node: NodeInfo) -> RemoteHost | None:
        entry = self._nodes.get(node.alias) or {
            "host": node.address,
            "port": node.details.get("port", 22),
        }
        pinned = entry.get("host_key")
        if not pinned and not self.template.get("ssh_host_key_check", True):
            pinned = scan_host_key(str(entry["host"]), int(entry["port"])).openssh
            if node.alias in self._nodes:
                self._nodes[node.alias]["host_key"] = pinned
        return remote_host(
            self.template, str(entry["host"]), int(entry["port"]), node.alias, pinned=pinned
        )

    def wait_for_nodes(self, tag: str, aliases: Sequence[str], timeout: float) -> list[NodeInfo]:
        deadline = time.monotonic() + timeout
        nodes = [n for n in self.list_nodes(tag) if n.alias in aliases]
        for node in nodes:
            while True:
                try:
                    remote = self.remote(node)
                    assert remote is not None  # noqa: S101 - ssh nodes always have one
                    result = remote.run(["true"], timeout=max(deadline - time.monotonic(), 1.0))
                    if result.exit_status == 0:
                        break
                    problem = f"'true' exited with {result.exit_status}: {result.stderr.strip()}"
                except ClusterValidationError:
                    raise
                except TethysComputeError as exc:
                    problem = str(exc)
                    if "host key" in problem.lower():
                        raise ProviderError(
                            f"cluster {tag!r}: node {node.alias} ({node.id}): {problem}"
                        ) from exc
                if time.monotonic() > deadline:
                    raise ProviderError(
                        f"cluster {tag!r}: node {node.alias} ({node.id}) is not reachable over "
                        f"SSH after {timeout:g} s: {problem}"
                    )
                time.sleep(1.0)
        return nodes

    def terminate_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        for node in nodes:
            self._nodes.pop(node.alias, None)

    def stop_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        for node in nodes:
            if node.alias in self._nodes:
                self._nodes[node.alias]["stopped"] = True

    def start_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
        for node in nodes:
            if node.alias in self._nodes:
                self._nodes[node.alias].pop("stopped", None)
        return [n for n in self.list_nodes(tag) if n.alias in {m.alias for m in nodes}]

    def delete_group(self, tag: str) -> None:
        self._nodes.clear()

    def group_exists(self, tag: str) -> bool:
        return bool(self._nodes)
