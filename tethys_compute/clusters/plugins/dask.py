"""The ``dask`` plugin: a Dask scheduler on the master, a worker on every other node.

Use it in a config file as::

    [plugin dask]
    SETUP_CLASS = tethys_compute.clusters.plugins.dask.DaskSetup
    # optional, else the template's settings, else the defaults:
    SCHEDULER_PORT = 8786
    DASHBOARD_PORT = 8787

It is implied for ``ssh`` clusters.  Each process is started over SSH with
``setsid nohup <REMOTE_PYTHON> -m distributed.cli.dask_scheduler`` (or
``dask_worker``), in ``~/.tethys-cluster/<tag>/`` with its log there, so it
keeps running after the SSH session ends; the plugin waits (bounded by the
template's ``START_TIMEOUT``) until the scheduler answers and the workers
have registered.  Process ids are kept in the cluster's state; ``on_shutdown``
and ``on_remove_node`` stop exactly those processes (after checking that the
pid still runs a ``distributed`` command).

The cluster's scheduler record is a ``DaskScheduler`` at
``tcp://<master>:<SCHEDULER_PORT>``.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tethys_compute import dask_processes
from tethys_compute.clusters.exceptions import PluginError
from tethys_compute.clusters.plugins.base import ClusterSetup
from tethys_compute.dask_client import scheduler_identity
from tethys_compute.exceptions import SchedulerConnectionError

if TYPE_CHECKING:
    from tethys_compute.clusters.shapes import ClusterNode as Node
    from tethys_compute.clusters.shapes import ClusterView as Cluster

__all__ = ["DaskSetup", "DEFAULT_SCHEDULER_PORT", "DEFAULT_DASHBOARD_PORT"]

logger = logging.getLogger(__name__)

DEFAULT_SCHEDULER_PORT = 8786
DEFAULT_DASHBOARD_PORT = 8787

#: Starts "$@" detached, logging to $2 in directory $1; prints its pid.
_LAUNCH = """\
dir=$1; log=$2; shift 2
mkdir -p "$dir" && cd "$dir" || exit 1
if command -v setsid >/dev/null 2>&1; then
  setsid nohup "$@" >"$log" 2>&1 </dev/null &
else
  nohup "$@" >"$log" 2>&1 </dev/null &
fi
echo $!
"""

#: Stops the process $1 (and its group) if it still runs a distributed command.
_STOP = """\
pid=$1
[ -r "/proc/$pid/cmdline" ] || exit 0
tr '\\0' ' ' <"/proc/$pid/cmdline" | grep -q distributed || exit 0
kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || exit 0
i=0
while kill -0 "$pid" 2>/dev/null; do
  i=$((i + 1))
  if [ "$i" -gt 50 ]; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; break; fi
  sleep 0.1
done
exit 0
"""


def _port(value: Any, default: int, what: str) -> int:
    if value in (None, ""):
        return default
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise PluginError(f"[plugin dask] {what} must be a port number, not {value!r}") from None
    if not 1 <= port <= 65535:
        raise PluginError(f"[plugin dask] {what} must be from 1 to 65535, not {port}")
    return port


class DaskSetup(ClusterSetup):
    """Run Dask on the cluster's nodes (see the module notes).

    Parameters
    ----------
    scheduler_port, dashboard_port : str or int, optional
        Override the template's ``SCHEDULER_PORT``/``DASHBOARD_PORT``.
    worker_threads : str or int, optional
        Override the template's ``WORKER_THREADS``.
    remote_python : str, optional
        Override the template's ``REMOTE_PYTHON`` (a command line).
    """

    def __init__(
        self,
        scheduler_port: str | int | None = None,
        dashboard_port: str | int | None = None,
        worker_threads: str | int | None = None,
        remote_python: str | None = None,
    ) -> None:
        super().__init__()
        self.options = {
            "scheduler_port": scheduler_port,
            "dashboard_port": dashboard_port,
            "worker_threads": worker_threads,
            "remote_python": remote_python,
        }

    # ------------------------------------------------------------ settings
    def _cluster(self) -> Cluster:
        if self.cluster is None:
            raise PluginError("the dask plugin was called without a cluster")
        return self.cluster

    def _setting(self, name: str) -> Any:
        value = self.options.get(name)
        if value in (None, ""):
            value = self._cluster().template.get(name)
        return value

    @property
    def scheduler_port(self) -> int:
        return _port(self._setting("scheduler_port"), DEFAULT_SCHEDULER_PORT, "SCHEDULER_PORT")

    @property
    def dashboard_port(self) -> int:
        return _port(self._setting("dashboard_port"), DEFAULT_DASHBOARD_PORT, "DASHBOARD_PORT")

    @property
    def python(self) -> list[str]:
        words = shlex.split(str(self._setting("remote_python") or "python3"))
        if not words:
            raise PluginError("REMOTE_PYTHON is empty; set it to a Python such as python3.")
        return words

    @property
    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._cluster().state.setdefault("dask", {})
        return state

    def _workdir(self) -> str:
        return f".tethys-cluster/{self._cluster().cluster_tag}"

    def _timeout(self) -> float:
        return float(self._cluster().template.get("start_timeout") or 300)

    # ------------------------------------------------------------- helpers
    def _launch(self, node: Node, log: str, argv: Sequence[str]) -> int:
        result = node.ssh.run(
            ["sh", "-c", _LAUNCH, "sh", self._workdir(), log, *self.python, *argv],
            timeout=min(self._timeout(), 60.0),
        )
        pid = result.stdout.strip().splitlines()[-1:] if result.ok else []
        if not pid or not pid[0].isdigit():
            raise PluginError(
                f"could not start {argv[1]} on node {node.alias}: exit {result.exit_status}: "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return int(pid[0])

    def _log_tail(self, node: Node, log: str) -> str:
        try:
            result = node.ssh.run(["tail", "-n", "15", f"{self._workdir()}/{log}"], timeout=15)
        except Exception:  # noqa: BLE001 - only for an error message
            return ""
        return result.stdout.strip()

    def _stop(self, node: Node, pid: int | None) -> None:
        if pid:
            node.ssh.run(["sh", "-c", _STOP, "sh", str(pid)], timeout=30)

    @property
    def address(self) -> str:
        return f"tcp://{self._master_address()}:{self.scheduler_port}"

    def _master_address(self) -> str:
        return str(self._state.get("master_address") or self._cluster().master_node.ip_address)

    # --------------------------------------------------------------- hooks
    def run(
        self, nodes: Sequence[Node], master: Node, user: str, user_shell: str, volumes: Any
    ) -> None:
        """Start the scheduler on ``master`` and a worker on every other node."""
        self._start_scheduler(master)
        workers = [node for node in nodes if not node.is_master()]
        self._start_workers(workers, master)

    def on_restart(
        self, nodes: Sequence[Node], master: Node, user: str, user_shell: str, volumes: Any
    ) -> None:
        """Start Dask again after the nodes were stopped."""
        self.run(nodes, master, user, user_shell, volumes)

    def _start_scheduler(self, master: Node) -> None:
        state = self._state
        self._stop(master, state.get("scheduler_pid"))
        port = self.scheduler_port
        pid = self._launch(
            master,
            "scheduler.log",
            [
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                master.private_ip_address,
                "--port",
                str(port),
                "--dashboard-address",
                f":{self.dashboard_port}",
            ],
        )
        state.update(
            scheduler_pid=pid,
            master_address=master.ip_address,
            address=f"tcp://{master.ip_address}:{port}",
        )
        self._cluster().save_state()
        deadline = time.monotonic() + self._timeout()
        problem = ""
        while time.monotonic() < deadline:
            try:
                scheduler_identity(state["address"], min(5.0, deadline - time.monotonic() + 0.1))
                logger.info("dask scheduler pid %d answers at %s", pid, state["address"])
                return
            except SchedulerConnectionError as exc:
                problem = str(exc)
            time.sleep(0.3)
        raise PluginError(
            f"the Dask scheduler on {master.alias} did not answer at {state['address']} within "
            f"{self._timeout():g} s ({problem}). Its log ends with:\n"
            f"{self._log_tail(master, 'scheduler.log')}"
        )

    def _start_workers(self, workers: Sequence[Node], master: Node) -> None:
        if not workers:
            return
        state = self._state
        pids: dict[str, int] = state.setdefault("workers", {})
        tag = self._cluster().cluster_tag
        scheduler = f"tcp://{master.private_ip_address}:{self.scheduler_port}"
        threads = str(self._setting("worker_threads") or 1)
        names = []
        for node in workers:
            self._stop(node, pids.get(node.alias))
            name = f"{tag}-{node.alias}"
            names.append(name)
            pids[node.alias] = self._launch(
                node,
                f"{node.alias}.log",
                [
                    "-m",
                    "distributed.cli.dask_worker",
                    scheduler,
                    "--name",
                    name,
                    "--nthreads",
                    threads,
                    "--host",
                    node.private_ip_address,
                    "--no-nanny",
                    "--no-dashboard",
                    "--dashboard-address",
                    f"{node.private_ip_address}:0",
                    "--local-directory",
                    node.alias,
                ],
            )
        self._cluster().save_state()
        try:
            dask_processes.wait_for_workers(state["address"], names=names, timeout=self._timeout())
        except dask_processes.DaskProcessError as exc:
            tails = "\n".join(f"{n.alias}: {self._log_tail(n, f'{n.alias}.log')}" for n in workers)
            raise PluginError(f"Dask workers did not connect: {exc}\n{tails}") from exc

    def on_add_node(
        self,
        node: Node,
        nodes: Sequence[Node],
        master: Node,
        user: str,
        user_shell: str,
        volumes: Any,
    ) -> None:
        """Start a worker on the new node."""
        self._start_workers([node], master)

    def on_remove_node(
        self,
        node: Node,
        nodes: Sequence[Node],
        master: Node,
        user: str,
        user_shell: str,
        volumes: Any,
    ) -> None:
        """Stop the node's worker."""
        pids = self._state.setdefault("workers", {})
        self._stop(node, pids.pop(node.alias, None))
        self._cluster().save_state()

    def on_shutdown(
        self, nodes: Sequence[Node], master: Node, user: str, user_shell: str, volumes: Any
    ) -> None:
        """Stop every worker, then the scheduler."""
        state = self._state
        pids = state.setdefault("workers", {})
        for node in nodes:
            if not node.is_master():
                self._stop(node, pids.pop(node.alias, None))
        self._stop(master, state.pop("scheduler_pid", None))
        self._cluster().save_state()

    def scheduler_record(self) -> dict[str, Any] | None:
        """A ``DaskScheduler`` at the master's scheduler port, with its dashboard."""
        address = self._state.get("address")
        if not address:
            return None
        host = self._state.get("master_address") or ""
        return {
            "kind": "dask",
            "host": str(address),
            "dashboard": f"http://{host}:{self.dashboard_port}/status",
        }
