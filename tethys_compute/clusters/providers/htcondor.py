"""The ``htcondor`` provider: a Dask cluster whose workers are HTCondor jobs.

The portal reaches the pool only through the SSH connection of a
:class:`~tethys_compute.models.CondorScheduler` record (``CONDOR_SCHEDULER``):

* the **master** is a ``dask scheduler`` started detached (``setsid nohup``)
  on that submit host over SSH, in a fresh working directory, listening on
  ``SCHEDULER_HOST`` (default: the record's host) at a free port that it
  reports through its scheduler file;
* every **worker node** is one job of an HTCondor cluster running
  ``dask worker`` against that address, named ``$(Cluster).$(Process)``, with
  ``WORKER_CORES`` threads and ``request_cpus``/``request_memory``/
  ``request_disk``/``requirements`` from the template; all the nodes created
  together are one ``condor_submit`` (``queue N``);
* the cluster's ``DaskScheduler`` record reaches the scheduler through an SSH
  tunnel over the same connection (``ssh_tunnel``), so nothing in the pool
  needs to reach the portal.

``provider_state`` holds ``workdir`` (on the submit host), ``scheduler``
(``pid``, ``address``) and ``workers``: alias -> ``{"job": "C.P"}``.  Node
states come from ``condor_q``/``condor_history`` (one round trip for all
workers): idle -> ``pending``, running -> ``running``, held or suspended ->
``stopped``, gone, removed or completed -> ``terminated``; the details say
which (``condor_status``).  Removing a worker first retires it through the
Dask scheduler (its data moves to the other workers), then ``condor_rm``.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from tethys_compute import condor, dask_client
from tethys_compute.clusters.exceptions import ClusterValidationError, ProviderError
from tethys_compute.clusters.plugins.dask import _LAUNCH, _STOP
from tethys_compute.clusters.providers.base import NodeInfo, NodeSpec, Provider
from tethys_compute.clusters.providers.htcondor_tls import make_certificates
from tethys_compute.condor.describe import format_arguments
from tethys_compute.condor.parse import JobStatus
from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import TethysComputeError
from tethys_compute.models import CondorScheduler
from tethys_compute.models.routes import SSHRoute
from tethys_compute.remote import RemoteHost
from tethys_compute.ssh.target import SSHTarget

__all__ = ["HTCondorProvider"]

logger = logging.getLogger(__name__)

#: Scheduler file the remote scheduler writes its address to (in the workdir).
SCHEDULER_FILE = "scheduler.json"

_STATES = {
    JobStatus.IDLE: "pending",
    JobStatus.RUNNING: "running",
    JobStatus.TRANSFERRING_OUTPUT: "running",
    JobStatus.HELD: "stopped",
    JobStatus.SUSPENDED: "stopped",
}


class HTCondorProvider(Provider):
    """Nodes are a remote Dask scheduler and HTCondor worker jobs (see the module notes)."""

    name: ClassVar[str] = "htcondor"
    has_machines: ClassVar[bool] = False

    # ------------------------------------------------------------- helpers
    def _record(self) -> Any:
        name = self.template.get("condor_scheduler")
        record = CondorScheduler.objects.filter(name=name).first()
        if record is None:
            raise ClusterValidationError(
                f"CONDOR_SCHEDULER = {name!r} names no HTCondor scheduler record; add one "
                "(admin, or 'manage.py schedulers create-condor') or fix the template."
            )
        return record

    def _host(self) -> RemoteHost:
        return self._record().get_remote_host()  # type: ignore[no-any-return]

    def check(self) -> None:
        """The record, the worker command and the adaptive bounds, before anything starts."""
        self._record()
        self._worker_command()
        low, high = self.template.get("min_workers"), self.template.get("max_workers")
        if low is not None and high is None:
            raise ClusterValidationError(
                "MIN_WORKERS is set without MAX_WORKERS: adaptive mode needs MAX_WORKERS "
                "(the most worker jobs); set it, or remove MIN_WORKERS."
            )
        if low is not None and high is not None and int(low) > int(high):
            raise ClusterValidationError(
                f"MIN_WORKERS = {low} is above MAX_WORKERS = {high}; make MIN_WORKERS the "
                "smaller one."
            )

    def tunnel_target(self) -> SSHTarget:
        """The SSH target whose connection carries the portal's Dask traffic."""
        return self._record().ssh_target()  # type: ignore[no-any-return]

    def tunnel_route(self) -> SSHRoute:
        """The route of the portal's Dask clients: a tunnel over that SSH connection."""
        return SSHRoute(self.tunnel_target())

    def tls_files(self) -> tuple[str, str, str | None] | None:
        """The portal's ``(ca, cert, key)`` files for this cluster's scheduler."""
        files = self.state.get("tls")
        return (str(files[0]), str(files[1]), str(files[2])) if files else None

    def _timeout(self) -> float:
        return float(self.template.get("start_timeout") or 300)

    def _words(self, setting: str) -> list[str]:
        value = self.template.get(setting) or self.template.get("remote_python") or "python3"
        words = shlex.split(str(value))
        if not words:
            raise ClusterValidationError(f"{setting.upper()} is empty; set it to a Python.")
        return words

    @property
    def _workers(self) -> dict[str, dict[str, Any]]:
        workers: dict[str, dict[str, Any]] = self.state.setdefault("workers", {})
        return workers

    @property
    def address(self) -> str:
        """The scheduler's address as the submit host sees it (``tcp://host:port``)."""
        return str((self.state.get("scheduler") or {}).get("address") or "")

    # -------------------------------------------------------------- groups
    def create_group(self, tag: str) -> None:
        if self.state.get("workdir"):
            return
        host = self._host()
        workdir = host.make_temp_dir(prefix=f"tethys-dask-{tag}-")  # mode 0700
        self.state["workdir"] = workdir
        certs = make_certificates(tag)
        files = {
            "ca.pem": certs.ca,
            "scheduler.pem": certs.scheduler[0],
            "scheduler.key": certs.scheduler[1],
            "worker.pem": certs.worker[0],
            "worker.key": certs.worker[1],
        }
        for name, text in files.items():
            host.put_bytes(text.encode(), f"{workdir}/{name}")
        host.run(["chmod", "600", *(f"{workdir}/{n}" for n in files)], timeout=30)
        folder = os.path.join(os.path.expanduser(compute_settings.DASK_CLUSTER_TLS_DIR), tag)
        self.state["tls"] = list(certs.write_portal_files(folder))

    def group_exists(self, tag: str) -> bool:
        return bool(self.state.get("workdir") or self._workers or self.state.get("scheduler"))

    def delete_group(self, tag: str) -> None:
        if not self.group_exists(tag):
            return  # nothing was made on the submit host
        host = self._host()
        jobs = [w["job"] for w in self._workers.values()]
        clusters = sorted({job.split(".")[0] for job in jobs})
        if clusters:
            condor.remove(host, clusters, reason=f"cluster {tag} terminated", timeout=60)
        self._workers.clear()
        self._stop_scheduler(host)
        self._close_tunnel()
        workdir = self.state.pop("workdir", None)
        if workdir:
            host.remove_tree(str(workdir))
        files = self.state.pop("tls", None)
        if files:
            shutil.rmtree(os.path.dirname(str(files[0])), ignore_errors=True)

    # --------------------------------------------------------------- nodes
    def create_nodes(self, tag: str, specs: Sequence[NodeSpec]) -> list[NodeInfo]:
        aliases = [spec.alias for spec in specs]
        if "master" in aliases:
            self._start_scheduler(tag)
        workers = [alias for alias in aliases if alias != "master"]
        if workers:
            self._submit_workers(tag, workers)
        return [n for n in self.list_nodes(tag) if n.alias in aliases]

    def _start_scheduler(self, tag: str) -> None:
        host = self._host()
        workdir = str(self.state["workdir"])
        self._stop_scheduler(host)
        bind = str(self.template.get("scheduler_host") or self._record().host)
        argv = [
            *self._words("remote_python"),
            *("-m", "distributed.cli.dask_scheduler", "--host", bind, "--port", "0"),
            *("--protocol", "tls", "--tls-ca-file", "ca.pem"),
            *("--tls-cert", "scheduler.pem", "--tls-key", "scheduler.key"),
            *("--no-dashboard", "--scheduler-file", SCHEDULER_FILE),
        ]
        host.run(["rm", "-f", f"{workdir}/{SCHEDULER_FILE}"], timeout=30)
        result = host.run(["sh", "-c", _LAUNCH, "sh", workdir, "scheduler.log", *argv], timeout=60)
        pid = (result.stdout.strip().splitlines() or [""])[-1]
        if not result.ok or not pid.isdigit():
            raise ProviderError(
                f"cluster {tag!r}: could not start the Dask scheduler on {host.label}: exit "
                f"{result.exit_status}: {result.stderr.strip() or result.stdout.strip()}"
            )
        self.state["scheduler"] = {"pid": int(pid), "address": ""}
        port = self._scheduler_port(host, tag)
        self.state["scheduler"]["address"] = f"tls://{bind}:{port}"
        logger.info("cluster %s: Dask scheduler pid %s at %s", tag, pid, self.address)

    def _scheduler_port(self, host: RemoteHost, tag: str) -> int:
        """Wait (bounded) for the scheduler file and return the port in it."""
        path = f"{self.state['workdir']}/{SCHEDULER_FILE}"
        deadline = time.monotonic() + self._timeout()
        while time.monotonic() < deadline:
            result = host.run(["cat", path], timeout=30)
            if result.ok and result.stdout.strip():
                try:
                    address = json.loads(result.stdout)["address"]
                    return int(str(address).rsplit(":", 1)[1])
                except (ValueError, KeyError, IndexError):
                    pass  # written half-way: read again
            time.sleep(0.3)
        log = host.run(["tail", "-n", "15", f"{self.state['workdir']}/scheduler.log"], timeout=30)
        raise ProviderError(
            f"cluster {tag!r}: the Dask scheduler on {host.label} did not write its address "
            f"within {self._timeout():g} s (START_TIMEOUT). Its log ends with:\n"
            f"{log.stdout.strip()}"
        )

    def _worker_command(self) -> tuple[str, str]:
        """The worker jobs' ``executable`` and ``arguments`` (new syntax, quoted)."""
        words = self._words("worker_python")
        setup = str(self.template.get("worker_setup") or "").strip()
        if not setup and not words[0].startswith("/"):
            raise ClusterValidationError(
                f"WORKER_PYTHON must start with an absolute path (HTCondor runs it as the "
                f"job's executable), not {words[0]!r}; e.g. /usr/bin/python3, or set "
                "WORKER_SETUP (a shell line such as 'source /opt/env/bin/activate')."
            )
        cores = int(self.template.get("worker_cores") or 1)
        memory = self.template.get("worker_memory")
        worker = [
            *("-m", "distributed.cli.dask_worker", self.address, "--nthreads", str(cores)),
            *("--no-dashboard", "--death-timeout", str(self.template.get("worker_idle_timeout"))),
            *("--memory-limit", f"{memory}MB" if memory else "0"),
            *("--tls-ca-file", "ca.pem", "--tls-cert", "worker.pem", "--tls-key", "worker.key"),
        ]
        # $(Cluster).$(Process) must reach HTCondor unescaped: it goes after the quoting.
        name = ' $(Cluster).$(Process)"'
        if setup:
            # /bin/sh runs the setup line, then the worker; the name arrives as $1.
            script = f'{setup} && exec {shlex.join([*words, *worker])} --name "$1"'
            return "/bin/sh", format_arguments(["-c", script, "sh"])[:-1] + name
        return words[0], format_arguments([*words[1:], *worker, "--name"])[:-1] + name

    def _submit_description(self, tag: str, count: int) -> dict[str, Any]:
        executable, arguments = self._worker_command()
        cores = int(self.template.get("worker_cores") or 1)
        memory = self.template.get("worker_memory")
        description: dict[str, Any] = {
            "universe": "vanilla",
            "executable": executable,
            "arguments": arguments,
            "request_cpus": cores,
            "request_memory": memory,
            "request_disk": self.template.get("worker_disk"),
            "requirements": self.template.get("worker_requirements"),
            "batch_name": f"tethys-dask-{tag}",
            "output": "worker-$(Cluster).$(Process).out",
            "error": "worker-$(Cluster).$(Process).err",
            "log": "workers.log",
            # Shared file system or not, the job gets the CA and the workers' pair.
            "should_transfer_files": "IF_NEEDED",
            "when_to_transfer_output": "ON_EXIT",
            "transfer_input_files": "ca.pem,worker.pem,worker.key",
            "queue": count,
        }
        return description

    def _submit_workers(self, tag: str, aliases: Sequence[str]) -> None:
        if not self.address:
            raise ProviderError(f"cluster {tag!r}: no scheduler address; start the master first.")
        host = self._host()
        description = self._submit_description(tag, len(aliases))
        try:
            result = condor.submit(host, description, remote_dir=str(self.state["workdir"]))
        except TethysComputeError as exc:
            raise ProviderError(f"cluster {tag!r}: submitting the workers failed: {exc}") from exc
        for proc, alias in enumerate(aliases):
            self._workers[alias] = {"job": f"{result.cluster_id}.{proc}"}
        logger.info(
            "cluster %s: %d worker job(s) in cluster %s", tag, len(aliases), result.cluster_id
        )

    def list_nodes(self, tag: str) -> list[NodeInfo]:
        nodes: list[NodeInfo] = []
        scheduler = self.state.get("scheduler")
        if scheduler:
            nodes.append(self._master_info(scheduler))
        jobs = {alias: entry["job"] for alias, entry in self._workers.items()}
        infos = condor.job_statuses(self._host(), sorted(set(jobs.values()))) if jobs else {}
        for alias, job in sorted(jobs.items()):
            info = infos.get(job)
            status = info.status if info is not None else None
            state = _STATES.get(status, "terminated") if status is not None else "terminated"
            label = status.label if status is not None else "gone"
            nodes.append(
                NodeInfo(
                    alias=alias,
                    id=job,
                    state=state,
                    details={"condor_status": label, "job": job},
                )
            )
        return [n for n in nodes if n.state != "terminated"]

    def _master_info(self, scheduler: dict[str, Any]) -> NodeInfo:
        pid = int(scheduler.get("pid") or 0)
        alive = self._host().run(["kill", "-0", str(pid)], timeout=30).ok if pid else False
        address = str(scheduler.get("address") or "")
        where = address.split("://")[-1].rsplit(":", 1)[0]
        return NodeInfo(
            alias="master",
            id=str(pid),
            state="running" if alive else "terminated",
            address=where,
            private_address=where,
            details={"pid": pid, "address": address},
        )

    def worker_counts(self, tag: str) -> dict[str, int]:
        """Workers ``wanted`` (in the state), ``queued``, ``running`` and ``held`` now."""
        counts = {"wanted": len(self._workers), "queued": 0, "running": 0, "held": 0}
        for node in self.list_nodes(tag):
            if node.is_master:
                continue
            key = {"pending": "queued", "running": "running", "stopped": "held"}[node.state]
            counts[key] += 1
        return counts

    def heal(self, tag: str) -> str:
        """Replace worker jobs that left the queue or are held; record the counts.

        Held jobs are removed first (``condor_rm``); every lost worker gets a new
        job under its alias, all in one ``condor_submit``.  The counts for the
        admin's Clusters page are kept in ``provider_state["workers_seen"]``.
        """
        nodes = {n.alias: n for n in self.list_nodes(tag) if not n.is_master}
        held = [a for a, n in nodes.items() if n.state == "stopped"]
        lost = sorted(a for a in self._workers if a not in nodes)
        counts = {"wanted": len(self._workers), "queued": 0, "running": 0, "held": len(held)}
        for node in nodes.values():
            if node.state in ("pending", "running"):
                counts["queued" if node.state == "pending" else "running"] += 1
        self.state["workers_seen"] = counts
        if not self.address:
            return ""
        if held or lost:
            if held:
                jobs = [self._workers[a]["job"] for a in held]
                condor.remove(self._host(), jobs, reason=f"cluster {tag}: replaced", timeout=60)
            self._submit_workers(tag, sorted(held + lost))
            return f"replaced {len(held)} held and {len(lost)} lost worker job(s)"
        pending = [a for a, n in nodes.items() if n.state == "pending"]
        return self._adapt(tag, pending)

    def _adapt(self, tag: str, pending: Sequence[str]) -> str:
        """With ``MAX_WORKERS``: follow the scheduler's ``adaptive_target``, within bounds.

        Growing submits the missing worker jobs in one ``condor_submit``;
        shrinking removes jobs still queued first, then retires the workers
        the scheduler names (``workers_to_close``) and removes their jobs.
        """
        high = self.template.get("max_workers")
        if not high:
            return ""
        low = int(self.template.get("min_workers") or 0)
        client = dask_client.get_client(
            self.address, timeout=30, via=self.tunnel_route(), tls=self.tls_files()
        )
        wanted = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.adaptive_target())
        target = max(low, min(int(high), int(wanted)))
        current = len(self._workers)
        if target > current:
            self._submit_workers(tag, self._new_aliases(target - current))
        elif target < current:
            doomed = list(pending)[: current - target]
            more = current - target - len(doomed)
            if more > 0:
                names = client.run_on_scheduler(
                    lambda dask_scheduler, n=more: dask_scheduler.workers_to_close(
                        n=n, attribute="name"
                    )
                )
                closing = {str(name) for name in names}
                doomed += [a for a, w in self._workers.items() if w["job"] in closing][:more]
            if not doomed:
                return ""
            infos = [NodeInfo(alias=a, id=self._workers[a]["job"], state="") for a in doomed]
            self.terminate_nodes(tag, infos)
        else:
            return ""
        self.template["cluster_size"] = 1 + len(self._workers)
        return f"adaptive: {current} -> {len(self._workers)} worker job(s)"

    def _new_aliases(self, count: int) -> list[str]:
        used = [int(a[4:]) for a in self._workers if a.startswith("node") and a[4:].isdigit()]
        start = max(used, default=0) + 1
        return [f"node{n:03d}" for n in range(start, start + count)]

    def wait_for_nodes(self, tag: str, aliases: Sequence[str], timeout: float) -> list[NodeInfo]:
        names = {self._workers[a]["job"] for a in aliases if a in self._workers}
        deadline = time.monotonic() + timeout
        have: set[str] = set()
        while True:
            remaining = deadline - time.monotonic()
            try:
                client = dask_client.get_client(
                    self.address,
                    timeout=max(min(remaining, 30.0), 1.0),
                    via=self.tunnel_route(),
                    tls=self.tls_files(),
                )
                workers = client.scheduler_info(n_workers=-1)["workers"].values()
                have = {str(w.get("name")) for w in workers}
                if names <= have:
                    break
            except TethysComputeError as exc:
                logger.info("cluster %s: waiting for the scheduler: %s", tag, exc)
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"cluster {tag!r}: {len(names & have)} of {len(names)} worker job(s) "
                    f"connected to the Dask scheduler within {timeout:g} s; see condor_q "
                    f"-hold and the worker-*.err files in {self.state.get('workdir')}."
                )
            time.sleep(0.5)
        return [n for n in self.list_nodes(tag) if n.alias in aliases]

    def terminate_nodes(self, tag: str, nodes: Sequence[NodeInfo]) -> None:
        workers = [n for n in nodes if not n.is_master and n.alias in self._workers]
        if workers:
            self._retire([self._workers[n.alias]["job"] for n in workers])
            condor.remove(
                self._host(),
                [self._workers[n.alias]["job"] for n in workers],
                reason=f"cluster {tag} resized",
                timeout=60,
            )
            for node in workers:
                self._workers.pop(node.alias, None)
        if any(n.is_master for n in nodes):
            self._stop_scheduler(self._host())

    def _retire(self, names: Sequence[str]) -> None:
        """Move the workers' data away and close them through the scheduler (best effort)."""
        if not self.address:
            return
        try:
            client = dask_client.get_client(
                self.address, timeout=30, via=self.tunnel_route(), tls=self.tls_files()
            )
            client.retire_workers(names=list(names), close_workers=True)
        except Exception as exc:  # noqa: BLE001 - condor_rm follows anyway
            logger.warning("Retiring workers %s failed (they are removed anyway): %s", names, exc)

    def _stop_scheduler(self, host: RemoteHost) -> None:
        scheduler = self.state.get("scheduler") or {}
        pid = scheduler.get("pid")
        self._close_tunnel()  # first: no client keeps knocking at a stopped scheduler
        if pid:
            host.run(["sh", "-c", _STOP, "sh", str(pid)], timeout=30)
        self.state.pop("scheduler", None)

    def _close_tunnel(self) -> None:
        if self.address:
            dask_client.close_clients(self.address)
            key = dask_client.make_key(self.address, tls=self.tls_files())
            self.tunnel_route().close(*key.remote_host_port())

    # ------------------------------------------------------------ schedulers
    def dask_scheduler(self, master: NodeInfo) -> dict[str, Any] | None:
        if not self.address:
            return None
        ca, cert, key = self.tls_files() or ("", "", "")
        return {
            "host": self.address,
            "dashboard": "",
            "ssh_tunnel": self._record(),
            "tls_ca_file": ca,
            "tls_cert_file": cert,
            "tls_key_file": key or "",
        }
