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
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tethys_compute.exceptions import TethysComputeError

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
        _forget_detached(self.popen.pid)
        return self.popen.returncode

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.returncode}"
        return f"<DaskProcess {self.kind} pid={self.pid} {self.address or ''} {state}>"


# Attached processes not stopped yet: stopped at interpreter exit, even when
# the caller dropped its reference (so strong references, not a WeakSet).
_attached: set[DaskProcess] = set()
_attached_lock = threading.Lock()

# Handles of detached processes this interpreter started, by pid.  A detached
# process outlives its DaskProcess object by design; keeping the handle lets
# this process reap it when it is stopped here (no zombie) and keeps Python
# from warning that a subprocess object was dropped while its process runs.
_detached_handles: dict[int, subprocess.Popen[bytes]] = {}


def _forget_detached(pid: int, wait: float = 0.0) -> None:
    """Reap a detached process this interpreter started, once it has exited."""
    with _attached_lock:
        popen = _detached_handles.get(pid)
    if popen is None:
        return
    try:
        popen.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        return
    with _attached_lock:
        _detached_handles.pop(pid, None)


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
        _forget_detached(pid, wait=1.0)


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
    with _attached_lock:
        if detached:
            _detached_handles[popen.pid] = popen
        else:
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
