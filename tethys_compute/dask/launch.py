"""Starting ``dask scheduler`` and ``dask worker`` processes, and waiting for workers.

See :mod:`tethys_compute.dask.process` for the process handle and stopping.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tethys_compute.dask.handshake import scheduler_identity
from tethys_compute.dask.keys import tls_security
from tethys_compute.dask.process import (
    _POLL,
    START_TIMEOUT,
    DaskProcess,
    DaskProcessTimeoutError,
    TLSFiles,
    _fail,
    _launch,
    _workdir,
)
from tethys_compute.exceptions import SchedulerConnectionError

logger = logging.getLogger(__name__)


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
