"""Connection tests: :func:`ssh_health` steps and :func:`test_ssh`."""

from __future__ import annotations

import logging
import statistics
import time

from tethys_compute.conf import compute_settings
from tethys_compute.exceptions import (
    SSHAuthenticationError,
    SSHError,
    SSHHostKeyError,
)
from tethys_compute.health import HealthResult
from tethys_compute.ssh.connect import tcp_connect
from tethys_compute.ssh.host import SSHHost
from tethys_compute.ssh.pool import connection_for
from tethys_compute.ssh.target import HasSSHTarget, SSHTarget, as_target

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------
# Health
# ----------------------------------------------------------------------------
def ssh_health(target: SSHTarget, result: HealthResult, samples: int = 5) -> SSHHost | None:
    """Add the SSH steps of a connection test to ``result``.

    Steps: ``TCP reachable``, ``SSH handshake``, ``host key``, ``authenticated``,
    ``command runs`` (``true``), then ``result.latency_ms`` is the median of
    ``samples`` round trips.  Callers (the Condor scheduler's test) continue
    with the returned host when every step passed.

    Returns
    -------
    SSHHost or None
        The connected host, or None after a failed step.
    """
    try:
        sock = tcp_connect(target, float(compute_settings.SSH_CONNECT_TIMEOUT))
        sock.close()
        result.passed("TCP reachable", f"{target.host}:{target.port}")
    except SSHError as exc:
        result.failed("TCP reachable", str(exc))
        return None
    conn = connection_for(target)
    try:
        conn.ensure_transport()
    except SSHHostKeyError as exc:
        result.passed("SSH handshake", "the server answered")
        result.failed("host key", str(exc))
        return None
    except SSHAuthenticationError as exc:
        result.passed("SSH handshake", "the server answered")
        result.passed("host key", conn.host_key_status)
        result.failed("authenticated", str(exc))
        return None
    except SSHError as exc:
        result.failed("SSH handshake", str(exc))
        return None
    transport = conn.transport
    server = transport.remote_version if transport is not None else ""
    result.passed("SSH handshake", server)
    if server:
        result.versions["ssh_server"] = server
    result.passed("host key", conn.host_key_status)
    result.passed("authenticated", f"as {target.username!r} with {conn.auth_method}")
    host = SSHHost(target)
    try:
        first = host.run(["true"])
        if not first.ok:
            result.failed("command runs", f"'true' exited {first.exit_status}")
            return None
        times = []
        for _ in range(max(1, samples)):
            started = time.perf_counter()
            host.run(["true"])
            times.append((time.perf_counter() - started) * 1000)
    except SSHError as exc:
        result.failed("command runs", str(exc))
        return None
    result.latency_ms = round(statistics.median(times), 2)
    result.details["ssh_round_trip_ms"] = result.latency_ms
    result.passed("command runs", f"'true' in {result.latency_ms} ms")
    return host


def test_ssh(source: SSHTarget | HasSSHTarget) -> HealthResult:
    """Test an SSH target (or a record with ``ssh_target()``) step by step.

    Returns
    -------
    HealthResult
        See :func:`ssh_health` for the steps.
    """
    target = as_target(source)
    result = HealthResult(target=f"SSH to {target.display}")
    ssh_health(target, result)
    return result.finish()


test_ssh.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
