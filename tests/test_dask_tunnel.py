"""A DaskScheduler reached through the SSH connection of a CondorScheduler.

Real parts only: the session's loopback sshd, a private ``dask scheduler`` and
worker on 127.0.0.1, and paramiko's direct-tcpip channels.  The test process
must never connect to the scheduler's port itself: every byte goes through
the forwarded local port and sshd.
"""

from __future__ import annotations

import operator
import os
import socket
import time
from collections.abc import Callable, Iterator

import psutil
import pytest

from tests.fixtures.sshd import SSHD
from tests.test_condor_e2e import make_scheduler
from tethys_compute import dask_client
from tethys_compute.counters import remote_calls
from tethys_compute.dask_processes import LocalDaskCluster
from tethys_compute.exceptions import SchedulerConnectionError
from tethys_compute.models import CondorScheduler, DaskScheduler
from tethys_compute.ssh import close_connections
from tethys_compute.ssh.target import SSHTarget
from tethys_compute.ssh.tunnel import Tunnel, close_tunnels, forward, open_tunnels

pytestmark = [pytest.mark.dask, pytest.mark.django_db]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def direct_connections(port: int) -> int:
    """Established connections of this process to ``port`` on loopback."""
    return sum(
        1
        for c in psutil.Process(os.getpid()).net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == port
    )


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def via(sshd_running: SSHD) -> Iterator[CondorScheduler]:
    scheduler = make_scheduler(sshd_running, "tunnel-ssh")
    yield scheduler
    dask_client.close_clients()
    close_tunnels()


@pytest.fixture
def tunnelled(private_dask_cluster: LocalDaskCluster, via: CondorScheduler) -> DaskScheduler:
    return DaskScheduler.objects.create(
        name="behind-ssh", host=private_dask_cluster.address, ssh_tunnel=via, timeout=20
    )


def scheduler_port(record: DaskScheduler) -> int:
    return int(record.host.rsplit(":", 1)[1])


def the_tunnel() -> Tunnel:
    [tunnel] = open_tunnels()
    return tunnel


def test_client_reaches_scheduler_only_through_forwarded_port(
    tunnelled: DaskScheduler, sshd_running: SSHD
) -> None:
    # Other tests of the session may have left SSH connections to this sshd
    # (their records' cached transports): count only what this client adds.
    before = sshd_running.client_connections()
    with remote_calls.measure() as seen:
        client = tunnelled.client
    tunnel = the_tunnel()
    assert tunnel.remote == tunnelled.host.split("://")[-1]
    assert client.scheduler.address == f"tcp://{tunnel.local_address}"
    assert client.submit(operator.mul, 6, 7).result(timeout=20) == 42
    # Nothing in this process talks to the scheduler's own port: sshd does.
    assert direct_connections(scheduler_port(tunnelled)) == 0
    assert tunnel.open_connections >= 1
    # One SSH connection carries the tunnel: it is opened (counted) once, at most.
    assert seen.connections("ssh") <= 1
    assert sshd_running.client_connections() - before <= 1


def test_tunnel_and_client_reused_across_calls(tunnelled: DaskScheduler) -> None:
    first = tunnelled.client
    tunnel = the_tunnel()
    accepted = tunnel.accepted
    for n in range(20):
        again = DaskScheduler.objects.get(pk=tunnelled.pk).client
        assert again is first
        assert again.submit(operator.add, n, 1).result(timeout=20) == n + 1
    assert open_tunnels() == [tunnel]
    assert tunnel.accepted == accepted  # no new connection through the tunnel


def test_closing_the_cache_closes_the_tunnel(tunnelled: DaskScheduler) -> None:
    tunnelled.client.submit(operator.neg, 1).result(timeout=20)
    port = the_tunnel().local_port
    assert listening(port)
    dask_client.close_clients()
    assert open_tunnels() == []
    assert not listening(port)


def test_changing_the_record_closes_its_tunnel(
    tunnelled: DaskScheduler, private_dask_cluster: LocalDaskCluster
) -> None:
    tunnelled.client.submit(operator.neg, 1).result(timeout=20)
    port = the_tunnel().local_port
    tunnelled.ssh_tunnel = None
    tunnelled.save()
    assert wait_until(lambda: open_tunnels() == [] and not listening(port))
    # Direct now, as the record says.
    client = tunnelled.client
    assert client.scheduler.address == private_dask_cluster.address
    assert open_tunnels() == []


def test_changing_the_ssh_scheduler_closes_tunnel_and_client(
    tunnelled: DaskScheduler, via: CondorScheduler
) -> None:
    old = tunnelled.client
    port = the_tunnel().local_port
    via.description = "changed"
    via.save()
    assert wait_until(lambda: not listening(port))
    fresh = DaskScheduler.objects.get(pk=tunnelled.pk).client
    assert fresh is not old
    assert fresh.submit(operator.add, 2, 2).result(timeout=20) == 4
    assert the_tunnel().local_port != port


def test_connection_test_goes_through_the_tunnel(tunnelled: DaskScheduler) -> None:
    result = tunnelled.test_connection()
    assert result.ok, result.summary
    assert result.details["n_workers"] == 1
    assert direct_connections(scheduler_port(tunnelled)) == 0


def test_nothing_listening_on_the_far_side_is_a_connection_error(
    via: CondorScheduler, refused_address: str
) -> None:
    record = DaskScheduler.objects.create(
        name="nobody-there", host=refused_address, ssh_tunnel=via, timeout=5
    )
    with pytest.raises(SchedulerConnectionError) as caught:
        record.get_client()
    assert "'nobody-there'" in str(caught.value)


def test_unreachable_ssh_server_is_named_in_the_error(
    private_dask_cluster: LocalDaskCluster, sshd_running: SSHD
) -> None:
    # A CondorScheduler whose SSH port is closed.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    broken = CondorScheduler.objects.create(
        name="ssh-down",
        host="127.0.0.1",
        port=closed_port,
        username=sshd_running.username,
        private_key_path=str(sshd_running.keys["ed25519"]),
        host_key=sshd_running.host_key_line,
    )
    record = DaskScheduler.objects.create(
        name="behind-down-ssh", host=private_dask_cluster.address, ssh_tunnel=broken, timeout=5
    )
    with pytest.raises(SchedulerConnectionError) as caught:
        record.get_client()
    message = str(caught.value)
    assert "through the SSH connection of scheduler 'ssh-down'" in message
    assert open_tunnels() == []


def test_forward_is_one_tunnel_per_target_and_address(
    sshd_running: SSHD, private_dask_cluster: LocalDaskCluster
) -> None:
    target = SSHTarget(
        host=sshd_running.host,
        port=sshd_running.port,
        username=sshd_running.username,
        private_key_path=str(sshd_running.keys["ed25519"]),
        host_key=sshd_running.host_key_line,
    )
    port = int(private_dask_cluster.address.rsplit(":", 1)[1])
    try:
        first = forward(target, "127.0.0.1", port)
        assert forward(target, "127.0.0.1", port) is first
        other = forward(target, "127.0.0.1", port + 1)
        assert other is not first
        assert len(open_tunnels()) == 2
    finally:
        close_tunnels()
        close_connections()
    assert not listening(first.local_port)
