"""Start and stop real ``dask scheduler`` and ``dask worker`` processes on this host.

Used by the testing helpers (:mod:`tethys_compute.testing`), the demo, the
benchmark and the cluster manager's ``local`` provider.  Every process is a
real ``distributed`` command-line program run with this interpreter
(``sys.executable -m distributed.cli.dask_scheduler`` / ``dask_worker``), so it
has exactly the packages of the portal.

* Ports: the scheduler listens on ``--port 0`` by default (the system picks a
  free port, no race) and reports its address through a scheduler file; pass
  ``port=`` to reuse a known port (for example after a restart).  The
  dashboard likewise listens on a free port unless ``dashboard=False``.
* Waiting: starting returns once the scheduler answers a request and, for
  workers, once they are registered with it, within a bounded ``timeout``.  A
  process that exits or does not get ready in time raises
  :class:`DaskProcessError` with the tail of its log.
* Detached processes (``detached=True``) run in their own session with their
  logs in files, so they outlive the Python process that started them (the
  cluster manager needs this); stop them later with :func:`stop_pids`.
  Attached processes (the default) are also stopped when the interpreter
  exits.
* Stopping sends ``SIGTERM`` to the process group, then ``SIGKILL`` after a
  bound: nothing is left running.

Examples
--------
>>> from tethys_compute.dask_processes import LocalDaskCluster
>>> with LocalDaskCluster(n_workers=2, threads_per_worker=1) as cluster:  # doctest: +SKIP
...     print(cluster.address, len(cluster.pids))
tcp://127.0.0.1:40123 3
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from tethys_compute.exceptions import SchedulerConnectionError, TethysComputeError

logger = logging.getLogger(__name__)

#: Seconds :meth:`DaskProcess.stop` waits after SIGTERM before SIGKILL.
STOP_TIMEOUT: float = 5.0
#: Seconds to wait for a process to get ready unless told otherwise.
START_TIMEOUT: float = 30.0

_POLL = 0.05

#: ``(ca_file, cert_file, key_file)`` for ``tls://`` clusters; the key may be
#: None when it is in the certificate file.
TLSFiles = tuple[str, str, str | None]
_LOG_TAIL_LINES = 30


class DaskProcessError(TethysComputeError, RuntimeError):
    """A dask scheduler or worker process failed to start or to get ready."""


class DaskProcessTimeoutError(DaskProcessError, TimeoutError):
    """A dask process did not get ready within the time allowed."""


@dataclass(eq=False)
class DaskProcess:
    """One running ``dask scheduler`` or ``dask worker`` process.

    Attributes
    ----------
    kind : str
        ``"scheduler"`` or ``"worker"``.
    popen : subprocess.Popen
        The process (leader of its own process group).
    log_path : pathlib.Path
        Its combined stdout/stderr.
    address : str or None
        The scheduler's address (``tcp://127.0.0.1:PORT``) for a scheduler;
        the scheduler it connects to for a worker.
    dashboard_address : str or None
        ``host:port`` of the scheduler's dashboard, if it has one.
    name : str or None
        The worker's name as the scheduler knows it.
    detached : bool
        Whether it runs in its own session and is left running at exit.
    """

    kind: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    address: str | None = None
    dashboard_address: str | None = None
    name: str | None = None
    detached: bool = False
    command: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        return self.popen.pid

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once it exited, else None."""
        return self.popen.poll()

    @property
    def dashboard_link(self) -> str | None:
        """``http://host:port/status`` of a scheduler's dashboard, or None."""
        if not self.dashboard_address:
            return None
        return f"http://{self.dashboard_address}/status"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the process's log."""
        return _tail(self.log_path, lines)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Stop the process and its children: SIGTERM, then SIGKILL after ``timeout``.

        Returns
        -------
        int or None
            The exit status.

        Examples
        --------
        >>> scheduler = start_scheduler()  # doctest: +SKIP
        >>> scheduler.stop()  # doctest: +SKIP
        0
        """
        with _attached_lock:
            _attached.discard(self)
        _stop_group(self.popen.pid, self.popen, timeout)
        return self.popen.returncode

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.returncode}"
        return f"<DaskProcess {self.kind} pid={self.pid} {self.address or ''} {state}>"


# Attached processes not stopped yet: stopped at interpreter exit, even when
# the caller dropped its reference (so strong references, not a WeakSet).
_attached: set[DaskProcess] = set()
_attached_lock = threading.Lock()


@atexit.register
def _stop_attached() -> None:
    with _attached_lock:
        processes = list(_attached)
    for process in processes:
        with contextlib.suppress(Exception):
            process.stop(timeout=2.0)


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's group
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _stop_group(pgid: int, popen: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM the group, wait up to ``timeout``, then SIGKILL whatever is left."""
    if popen is not None and popen.poll() is not None and not _group_alive(pgid):
        return
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    if popen is not None:
        try:
            popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            popen.wait(timeout=10)
    # Children (a nanny's worker) may outlive the leader for a moment.
    while _group_alive(pgid) and time.monotonic() < deadline:
        _reap(pgid)
        time.sleep(_POLL)
    if _group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)
        end = time.monotonic() + 5.0
        while _group_alive(pgid) and time.monotonic() < end:
            _reap(pgid)
            time.sleep(_POLL)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our exited child (so it does not linger as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_pids(pids: Iterable[int], timeout: float = STOP_TIMEOUT) -> None:
    """Stop detached dask processes (and their children) by process id.

    For processes started with ``detached=True``, possibly by another Python
    process: each pid is the leader of its own process group.

    Parameters
    ----------
    pids : iterable of int
        The ``pids`` of a :class:`LocalDaskCluster` or :attr:`DaskProcess.pid`.
    timeout : float
        Seconds between SIGTERM and SIGKILL.

    Examples
    --------
    >>> cluster = LocalDaskCluster(detached=True).start()  # doctest: +SKIP
    >>> stop_pids(cluster.pids)  # doctest: +SKIP
    """
    pids = list(pids)
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in pids:
        while _group_alive(pid) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(_POLL)
    for pid in pids:
        if _group_alive(pid):
            _stop_group(pid, None, 2.0)


def _launch(
    kind: str,
    command: list[str],
    workdir: Path,
    log_name: str,
    env: Mapping[str, str] | None,
    detached: bool,
) -> DaskProcess:
    log_path = workdir / log_name
    full_env = dict(os.environ)
    # Make the project importable in workers exactly as in the caller.
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    if env:
        full_env.update(env)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=full_env,
            start_new_session=True,
            close_fds=True,
        )
    process = DaskProcess(
        kind=kind, popen=popen, log_path=log_path, detached=detached, command=command
    )
    if not detached:
        with _attached_lock:
            _attached.add(process)
    logger.debug("Started dask %s pid %d: %s", kind, popen.pid, " ".join(command))
    return process


def _fail(process: DaskProcess, message: str, timeout: bool = False) -> DaskProcessError:
    returncode = process.returncode
    process.stop(timeout=2.0)
    state = f"it exited with status {returncode}" if returncode is not None else "it was stopped"
    text = (
        f"{message.rstrip('. ')}; {state}. Last lines of {process.log_path}:\n{process.log_tail()}"
    )
    return DaskProcessTimeoutError(text) if timeout else DaskProcessError(text)


def _workdir(workdir: str | os.PathLike[str] | None, prefix: str) -> Path:
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix=prefix))
    path = Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_scheduler(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    dashboard: bool = True,
    dashboard_port: int = 0,
    workdir: str | os.PathLike[str] | None = None,
    detached: bool = False,
    timeout: float = START_TIMEOUT,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    tls: TLSFiles | None = None,
) -> DaskProcess:
    """Start a ``dask scheduler`` process and wait until it answers.

    Parameters
    ----------
    host : str
        Address to listen on; keep the default loopback address unless
        workers on other hosts must connect.
    port : int
        Port to listen on; 0 (default) lets the system pick a free one.
    dashboard : bool
        Serve the dashboard (needs ``bokeh``); its port is free unless
        ``dashboard_port`` is given.
    dashboard_port : int
        Dashboard port; 0 picks a free one.
    workdir : path, optional
        Directory for the log and the scheduler file; a new temporary
        directory by default.
    detached : bool
        Run in its own session, left running when this interpreter exits.
    timeout : float
        Seconds to wait until the scheduler answers.
    env : mapping, optional
        Extra environment variables (``DASK_...`` configuration, say).
    extra_args : sequence of str
        More ``dask scheduler`` options.
    tls : tuple, optional
        ``(ca_file, cert_file, key_file)``: listen on ``tls://`` and require
        certificates signed by that CA from clients and workers.

    Returns
    -------
    DaskProcess
        With ``address`` and ``dashboard_address`` set.

    Raises
    ------
    DaskProcessError
        When the process exits early (port in use, bad option) or does not
        answer within ``timeout`` (then a :class:`DaskProcessTimeoutError`);
        the message includes the end of its log.

    Examples
    --------
    >>> scheduler = start_scheduler()  # doctest: +SKIP
    >>> scheduler.address  # doctest: +SKIP
    'tcp://127.0.0.1:39821'
    >>> scheduler.stop()  # doctest: +SKIP
    """
    directory = _workdir(workdir, "tethys-dask-scheduler-")
    scheduler_file = directory / f"scheduler-{uuid.uuid4().hex[:8]}.json"
    command = [
        sys.executable,
        "-m",
        "distributed.cli.dask_scheduler",
        "--host",
        host,
        "--port",
        str(port),
        "--scheduler-file",
        str(scheduler_file),
    ]
    # The HTTP server (dashboard, or only /health and /metrics with --no-dashboard)
    # listens on `host` too; left alone it would take every interface.
    command += ["--dashboard-address", f"{host}:{dashboard_port if dashboard else 0}"]
    if not dashboard:
        command += ["--no-dashboard"]
    command += _tls_args(tls) + list(extra_args)
    process = _launch("scheduler", command, directory, "scheduler.log", env, detached)
    deadline = time.monotonic() + timeout
    info: dict[str, Any] | None = None
    while info is None:
        if not process.running:
            raise _fail(process, "The dask scheduler did not start")
        if time.monotonic() > deadline:
            raise _fail(process, f"The dask scheduler did not start within {timeout:g} s", True)
        info = _read_json(scheduler_file)
        if info is None or "address" not in info:
            info = None
            time.sleep(_POLL)
    process.address = str(info["address"])
    dashboard_port_used = (info.get("services") or {}).get("dashboard")
    if dashboard_port_used:
        process.dashboard_address = f"{host}:{dashboard_port_used}"
    try:
        _identity(process.address, max(deadline - time.monotonic(), 1.0), tls)
    except SchedulerConnectionError as exc:
        raise _fail(process, f"The dask scheduler at {process.address} does not answer: {exc}")
    logger.info("Dask scheduler pid %d listens at %s", process.pid, process.address)
    return process


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None  # not written yet, or half written
    return data if isinstance(data, dict) else None


def _identity(address: str, timeout: float, tls: TLSFiles | None = None) -> dict[str, Any]:
    from tethys_compute.dask_client import scheduler_identity, tls_security

    security = tls_security(*tls) if tls else None
    return scheduler_identity(address, timeout, security=security)


def _tls_args(tls: TLSFiles | None) -> list[str]:
    if not tls:
        return []
    ca_file, cert_file, key_file = tls
    args = ["--protocol", "tls", "--tls-ca-file", ca_file, "--tls-cert", cert_file]
    return args + (["--tls-key", key_file] if key_file else [])


def start_worker(
    address: str,
    *,
    nthreads: int = 1,
    memory_limit: str | int = "auto",
    name: str | None = None,
    nanny: bool = False,
    host: str = "127.0.0.1",
    workdir: str | os.PathLike[str] | None = None,
    detached: bool = False,
    wait: bool = True,
    timeout: float = START_TIMEOUT,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    tls: TLSFiles | None = None,
) -> DaskProcess:
    """Start one ``dask worker`` process for the scheduler at ``address``.

    Parameters
    ----------
    address : str
        The scheduler's address.
    nthreads : int
        Threads of the worker.
    memory_limit : str or int
        ``--memory-limit``: bytes, ``"2GiB"``, a fraction, or ``"auto"``.
    name : str, optional
        The worker's name; a unique one by default.
    nanny : bool
        Run the worker under a nanny process (needed for
        ``client.restart()``); off by default, which starts faster.
    host : str
        Address the worker listens on.
    workdir : path, optional
        Directory for the log and the worker's spill files.
    detached : bool
        Run in its own session, left running when this interpreter exits.
    wait : bool
        Wait until the worker is registered with the scheduler.
    timeout : float
        Seconds to wait for that.
    env : mapping, optional
        Extra environment variables.
    extra_args : sequence of str
        More ``dask worker`` options.
    tls : tuple, optional
        ``(ca_file, cert_file, key_file)`` for a ``tls://`` scheduler.

    Returns
    -------
    DaskProcess

    Raises
    ------
    DaskProcessError
        When the worker exits early or does not register within ``timeout``.

    Examples
    --------
    >>> worker = start_worker(scheduler.address, nthreads=2)  # doctest: +SKIP
    >>> worker.name  # doctest: +SKIP
    'worker-3f2a9c1b'
    """
    name = name or f"worker-{uuid.uuid4().hex[:8]}"
    directory = _workdir(workdir, "tethys-dask-worker-")
    command = [
        sys.executable,
        "-m",
        "distributed.cli.dask_worker",
        address,
        "--host",
        host,
        "--nthreads",
        str(nthreads),
        "--memory-limit",
        str(memory_limit),
        "--name",
        name,
        "--local-directory",
        str(directory),
        "--no-dashboard",
        # Its HTTP server (/health, /metrics) on `host`, not on every interface.
        "--dashboard-address",
        f"{host}:0",
        "--nanny" if nanny else "--no-nanny",
        *_tls_args(tls),
        *extra_args,
    ]
    process = _launch("worker", command, directory, f"{name}.log", env, detached)
    process.address = address
    process.name = name
    if wait:
        wait_for_workers(address, names=[name], timeout=timeout, processes=[process], tls=tls)
    return process


def wait_for_workers(
    address: str,
    n: int | None = None,
    timeout: float = START_TIMEOUT,
    *,
    names: Sequence[str] = (),
    processes: Sequence[DaskProcess] = (),
    tls: TLSFiles | None = None,
) -> dict[str, Any]:
    """Wait until the scheduler at ``address`` has ``n`` workers (or these names).

    Parameters
    ----------
    address : str
        The scheduler's address.
    n : int, optional
        How many workers must be connected (at least).
    timeout : float
        Seconds to wait at most.
    names : sequence of str
        Worker names that must all be connected.
    processes : sequence of DaskProcess
        Processes to watch: if one exits, waiting stops with its log.
    tls : tuple, optional
        ``(ca_file, cert_file, key_file)`` for a ``tls://`` scheduler.

    Returns
    -------
    dict
        The scheduler's identity (``n_workers``, ``workers``, ...).

    Raises
    ------
    DaskProcessTimeoutError
        When the workers are not there within ``timeout``.
    DaskProcessError
        When a watched process exits.

    Examples
    --------
    >>> info = wait_for_workers("tcp://127.0.0.1:8786", 2, timeout=20)  # doctest: +SKIP
    >>> info["n_workers"]  # doctest: +SKIP
    2
    """
    deadline = time.monotonic() + timeout
    wanted = set(names)
    info: dict[str, Any] = {}
    last_error: Exception | None = None
    while True:
        for process in processes:
            if not process.running:
                raise _fail(process, f"The dask {process.kind} {process.name or ''} exited")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            info = _identity(address, min(remaining, 5.0), tls)
        except SchedulerConnectionError as exc:
            last_error = exc
        else:
            workers = info.get("workers") or {}
            have = {str(w.get("name")) for w in workers.values()}
            if (n is None or len(workers) >= n) and wanted <= have:
                return info
        time.sleep(0.1)
    count = len(info.get("workers") or {})
    detail = f" (last error: {last_error})" if last_error else ""
    message = (
        f"The dask scheduler at {address} has {count} workers after {timeout:g} s; "
        f"wanted {n if n is not None else len(wanted)}{detail}"
    )
    for process in processes:
        raise _fail(process, message, timeout=True)
    raise DaskProcessTimeoutError(message)


class LocalDaskCluster:
    """A dask scheduler and worker processes on this host, on free loopback ports.

    Parameters
    ----------
    n_workers : int
        Worker processes (one ``dask worker`` process each).
    threads_per_worker : int
        Threads of each worker.
    memory_limit : str or int
        Memory limit of each worker (``--memory-limit``).
    nanny : bool
        Run workers under a nanny (needed for ``client.restart()``).
    dashboard : bool
        Serve the scheduler's dashboard.
    detached : bool
        Processes outlive this interpreter; stop them with :meth:`stop` or
        :func:`stop_pids` (the cluster manager records :attr:`pids`).
    port : int
        Scheduler port; 0 picks a free one.
    host : str
        Listen address of all processes.
    workdir : path, optional
        Directory for logs and the scheduler file (a temporary one by
        default, removed by :meth:`stop` unless detached).
    timeout : float
        Seconds to wait for the scheduler and all workers.
    env : mapping, optional
        Extra environment variables for every process.
    tls : tuple, optional
        ``(ca_file, cert_file, key_file)``: every process talks ``tls://``
        with certificates signed by that CA.

    Examples
    --------
    >>> from distributed import Client
    >>> with LocalDaskCluster(n_workers=2) as cluster:  # doctest: +SKIP
    ...     with Client(cluster.address) as client:
    ...         print(client.submit(sum, [1, 2]).result())
    3
    """

    def __init__(
        self,
        n_workers: int = 1,
        threads_per_worker: int = 1,
        *,
        memory_limit: str | int = "auto",
        nanny: bool = False,
        dashboard: bool = True,
        detached: bool = False,
        port: int = 0,
        host: str = "127.0.0.1",
        workdir: str | os.PathLike[str] | None = None,
        timeout: float = START_TIMEOUT,
        env: Mapping[str, str] | None = None,
        tls: TLSFiles | None = None,
    ) -> None:
        if n_workers < 0 or threads_per_worker < 1:
            raise ValueError("n_workers must be >= 0 and threads_per_worker >= 1")
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.memory_limit = memory_limit
        self.nanny = nanny
        self.dashboard = dashboard
        self.detached = detached
        self.port = port
        self.host = host
        self.timeout = timeout
        self.env = dict(env or {})
        self.tls = tls
        self._own_workdir = workdir is None
        self.workdir = _workdir(workdir, "tethys-dask-")
        self.scheduler: DaskProcess | None = None
        self.workers: list[DaskProcess] = []

    @property
    def address(self) -> str:
        """The scheduler's address, ``tcp://127.0.0.1:PORT``."""
        if self.scheduler is None or self.scheduler.address is None:
            raise RuntimeError("The cluster is not started; call start() or use 'with'.")
        return self.scheduler.address

    @property
    def dashboard_address(self) -> str | None:
        """``host:port`` of the scheduler's dashboard, or None."""
        return self.scheduler.dashboard_address if self.scheduler else None

    @property
    def dashboard_link(self) -> str | None:
        """``http://host:port/status``, or None without a dashboard."""
        return self.scheduler.dashboard_link if self.scheduler else None

    @property
    def pids(self) -> list[int]:
        """Process ids: the scheduler's first, then the workers'."""
        processes = ([self.scheduler] if self.scheduler else []) + self.workers
        return [p.pid for p in processes]

    def start(self) -> LocalDaskCluster:
        """Start the scheduler and the workers; return once all workers are connected."""
        if self.scheduler is not None:
            return self
        try:
            self.scheduler = start_scheduler(
                host=self.host,
                port=self.port,
                dashboard=self.dashboard,
                workdir=self.workdir,
                detached=self.detached,
                timeout=self.timeout,
                env=self.env,
                tls=self.tls,
            )
            for _ in range(self.n_workers):
                self.add_worker(wait=False)
            if self.workers:
                wait_for_workers(
                    self.address,
                    names=[w.name for w in self.workers if w.name],
                    timeout=self.timeout,
                    processes=self.workers,
                    tls=self.tls,
                )
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, *, wait: bool = True, nthreads: int | None = None) -> DaskProcess:
        """Start one more worker process (and wait until it is connected)."""
        worker = start_worker(
            self.address,
            nthreads=nthreads or self.threads_per_worker,
            memory_limit=self.memory_limit,
            nanny=self.nanny,
            host=self.host,
            workdir=self.workdir / f"worker-{len(self.workers)}",
            detached=self.detached,
            wait=wait,
            timeout=self.timeout,
            env=self.env,
            tls=self.tls,
        )
        self.workers.append(worker)
        return worker

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the workers, then the scheduler; nothing is left running."""
        workers, self.workers = self.workers, []
        for worker in workers:
            _signal_group(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.stop(timeout)
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.stop(timeout)
        if self._own_workdir and not self.detached:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalDaskCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.scheduler.address if self.scheduler else "not started"
        return f"<LocalDaskCluster {where} workers={len(self.workers)}>"
