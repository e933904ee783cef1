"""The ``local`` provider: a Dask scheduler and workers as processes on this host.

The master node is a ``dask scheduler`` process, every other node a
``dask worker`` process (``WORKER_THREADS`` threads each), all started by
:mod:`tethys_compute.dask_processes` **detached**: in their own session, so the
cluster outlives the web request or command that started it.  Process ids,
worker names, the scheduler's address and port and the working directory are
kept in the cluster's ``provider_state``; a provider built later, in any
process, finds the processes again from there (each pid is checked to still be
a dask process before it is trusted or signalled).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import psutil

from tethys_compute import dask_processes
from tethys_compute.clusters.exceptions import ProviderError
from tethys_compute.clusters.providers.base import NodeInfo, NodeSpec, Provider

__all__ = ["LocalProvider"]

logger = logging.getLogger(__name__)

#: Host the local scheduler and workers listen on.
LOCAL_HOST = "127.0.0.1"


def _is_dask_process(pid: int, name: str | None) -> bool:
    """True when ``pid`` runs a dask scheduler/worker (and is the worker ``name``)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    if not any(part.startswith("distributed.cli.dask_") for part in cmdline):
        return False
    return name is None or name in cmdline


class LocalProvider(Provider):
    """Nodes are detached dask processes on this host (see the module notes).

    ``provider_state`` holds ``workdir``, ``scheduler_port``, ``address``,
    ``dashboard`` and ``nodes``: alias -> ``{"kind", "pid", "name", "stopped"}``.
    """

    name: ClassVar[str] = "local"
    has_machines: ClassVar[bool] = False

    # ------------------------------------------------------------- helpers
    @property
    def _nodes(self) -> dict[str, dict[str, Any]]:
        nodes: dict[str, dict[str, Any]] = self.state.setdefault("nodes", {})
        return nodes

    def _workdir(self, tag: str) -> Path:
        workdir = self.state.get("workdir")
        if not workdir or not Path(workdir).is_dir():
            workdir = tempfile.mkdtemp(prefix=f"tethys-cluster-{tag}-")
            self.state["workdir"] = workdir
        return Path(workdir)

    def _timeout(self) -> float:
        return float(self.template.get("start_timeout") or dask_processes.START_TIMEOUT)

    def _info(self, alias: str, entry: dict[str, Any]) -> NodeInfo:
        if entry.get("stopped"):
            state = "stopped"
        elif _is_dask_process(int(entry.get("pid") or 0), entry.get("name")):
            state = "running"
        else:
            state = "terminated"
        return NodeInfo(
            alias=alias,
            id=str(entry.get("pid") or ""),
            state=state,
            address=LOCAL_HOST,
            private_address=LOCAL_HOST,
            details={"kind": entry.get("kind"), "pid": entry.get("pid"), "name": entry.get("name")},
        )

    # --------------------------------------------------------------- nodes
    def create_nodes(self, tag: str, specs: Sequence[NodeSpec]) -> list[NodeInfo]:
        workdir = self._workdir(tag)
        ordered = sorted(specs, key=lambda spec: spec.alias != "master")
        for spec in ordered:
            self._launch(tag, spec.alias, workdir)
        return [self._info(s.alias, self._nodes[s.alias]) for s in specs]

    def worker_env(self) -> dict[str, str]:
        """The environment of every node, kept in the cluster's state.

        ``PYTHONPATH`` is the template's ``WORKER_PYTHONPATH`` when it is set,
        else the import path of the process that first started the cluster
        (captured then and kept), so a resize or a restart from another shell
        starts workers that import what the first ones did.
        """
        env = dict(self.state.get("env") or {})
        configured = str(self.template.get("worker_pythonpath") or "").strip()
        if configured:
            folders = [os.path.expanduser(p) for p in configured.split(os.pathsep) if p]
            env["PYTHONPATH"] = os.pathsep.join(folders)
        elif "PYTHONPATH" not in env:
            env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        self.state["env"] = env
        return env

    def _launch(self, tag: str, alias: str, workdir: Path) -> None:
        timeout = self._timeout()
        env = self.worker_env()
        try:
            if alias == "master":
                port = self.state.get("scheduler_port") or self.template.get("scheduler_port") or 0
                process = dask_processes.start_scheduler(
                    host=LOCAL_HOST,
                    port=int(port),
                    dashboard=True,
                    dashboard_port=int(self.template.get("dashboard_port") or 0),
                    workdir=workdir / "master",
                    detached=True,
                    timeout=timeout,
                    env=env,
                )
                address = process.address or ""
                self.state["address"] = address
                self.state["scheduler_port"] = int(address.rsplit(":", 1)[1])
                self.state["dashboard"] = process.dashboard_address or ""
                self._nodes[alias] = {"kind": "scheduler", "pid": process.pid, "name": None}
                return
            address = str(self.state.get("address") or "")
            if not address:
                raise ProviderError(
                    f"cluster {tag!r}: no scheduler address recorded; start the master first."
                )
            process = dask_processes.start_worker(
                address,
                nthreads=int(self.template.get("worker_threads") or 1),
                name=f"{tag}-{alias}",
                host=LOCAL_HOST,
                workdir=workdir / alias,
                detached=True,
                wait=False,
                timeout=timeout,
                env=env,
            )
            self._nodes[alias] = {"kind": "worker", "pid": process.pid, "name": process.name}
        except dask_processes.DaskProcessError as exc:
            raise ProviderError(f"cluster {tag!r}: node {alias} did not start: {exc}") from exc

    def list_nodes(self, tag: str) -> list[NodeInfo]:
        infos = [self._info(alias, entry) for alias, entry in self._nodes.items()]
        return sorted((i for i in infos if i.state != "terminated"), key=_alias_order)

    def wait_for_nodes(self, tag: str, aliases: Sequence[str], timeout: float) -> list[NodeInfo]:
        names = [
            self._nodes[a]["name"]
            for a in aliases
            if self._nodes.get(a, {}).get("kind") == "worker"
        ]
        if names:
            try:
                dask_processes.wait_for_workers(self.state["address"], names=names, timeout=timeout)
            except dask_processes.DaskProcessError as exc:
                logs = self._worker_logs(aliases)
                raise ProviderError(
                    f"cluster {tag!r}: workers did not connect: {exc}{logs}"
                ) from exc
        return [n for n in self.list_nodes(tag) if n.alias in aliases]

    def _worker_logs(self, aliases: Sequence[str]) -> str:
        workdir = self.state.get("workdir")
        if not workdir:
            return ""
        parts = []
        for alias in aliases:
            for log in Path(workdir, alias).glob("*.log"):
                tail = log.read_text(errors="replace").splitlines()[-5:]
                parts.append(f"\n{alias}: " + "\n".join(tail))
        return "".join(parts)

    def _stop(self, nodes: Sequence[NodeInfo]) -> None:
        pids = []
        for node in nodes:
            entry = self._nodes.get(node.alias)
            if entry and _is_dask_process(int(entry.get("pid") or 0), entry.get("name")):
                pids.append(int(entry["pid"]))
        if pids:
            dask_processes.stop_pids(pids)
        deadline = time.monotonic() + 10.0
        while any(_is_dask_process(pid, None) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)

    def terminate_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        self._stop(nodes)
        for node in nodes:
            self._nodes.pop(node.alias, None)

    def stop_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        self._stop(nodes)
        for node in nodes:
            if node.alias in self._nodes:
                self._nodes[node.alias]["stopped"] = True

    def start_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
        specs = [NodeSpec(alias=n.alias) for n in nodes]
        return self.create_nodes(tag, specs)

    def delete_group(self, tag: str) -> None:
        leftovers = [self._info(a, e) for a, e in self._nodes.items()]
        self._stop(leftovers)
        self._nodes.clear()
        workdir = self.state.pop("workdir", None)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    def group_exists(self, tag: str) -> bool:
        return bool(self._nodes) or bool(self.state.get("workdir"))

    # ------------------------------------------------------------ schedulers
    def dask_scheduler(self, master: NodeInfo) -> dict[str, Any] | None:
        address = self.state.get("address")
        if not address:
            return None
        return {"host": str(address), "dashboard": str(self.state.get("dashboard") or "")}


def _alias_order(node: NodeInfo) -> tuple[int, str]:
    return (0 if node.is_master else 1, node.alias)
