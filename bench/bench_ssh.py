"""How much the persistent remote session saves, against a real loopback sshd.

Run (as root, like the tests: it starts its own sshd with a test account)::

    PYTHONPATH=. .venv/bin/python bench/bench_ssh.py [--commands 50]

Side by side, each running the same command (``true``) ``--commands`` times:

* **our layer**: :class:`tethys_compute.ssh.SSHHost` on a warm connection,
  once with the python3 session loop and once with the POSIX sh loop;
* **exec channels**: one open transport, one new ``exec_command`` channel per
  command: what condorpy 0.7.0's ``RemoteClient`` does (it keeps its transport
  and opens a channel per ``execute``), the careful baseline;
* **new connections**: paramiko connect + password auth + one ``exec_command``
  + close, each time (a naive client that reconnects for every command; no
  library we compare with does this, the row is shown for scale only).

Targets: our layer at least 20x faster than exec channels and 50x faster than
new connections.  The script exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

import paramiko  # noqa: E402

from tests.fixtures.sshd import SSHD, start_sshd  # noqa: E402
from tethys_compute import ssh  # noqa: E402

COMMAND = ["true"]


def timed(func: Callable[[], object], count: int, rounds: int) -> float:
    """Median over ``rounds`` of the seconds ``count`` calls of ``func`` take."""
    results = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(count):
            func()
        results.append(time.perf_counter() - started)
    return statistics.median(results)


def new_client(server: SSHD) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        server.host,
        server.port,
        server.username,
        password=server.password,
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
        banner_timeout=10,
        auth_timeout=10,
    )
    return client


def exec_on(transport: paramiko.Transport) -> None:
    channel = transport.open_session(timeout=10)
    channel.exec_command(" ".join(COMMAND))
    while channel.recv(65536):
        pass
    if channel.recv_exit_status() != 0:
        raise RuntimeError("command failed")
    channel.close()


def new_connection_command(server: SSHD) -> None:
    client = new_client(server)
    try:
        transport = client.get_transport()
        assert transport is not None
        exec_on(transport)
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=50, help="commands per measure")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is shown")
    args = parser.parse_args()
    count, rounds = args.commands, args.rounds

    server = start_sshd(tempfile.mkdtemp(prefix="tethys-bench-sshd-"))
    try:
        target = ssh.SSHTarget(
            server.host,
            server.port,
            server.username,
            password=server.password,
            known_hosts=str(server.known_hosts),
            label="bench",
        )
        layers = {}
        for driver in ("auto", "sh"):
            host = ssh.SSHHost(ssh.SSHTarget(**{**target.__dict__, "driver": driver}))
            started = time.perf_counter()
            host.run(COMMAND, check=True)  # connect, authenticate, start the session
            first = time.perf_counter() - started
            steady = timed(lambda h=host: h.run(COMMAND, check=True), count, rounds)
            layers[driver] = (first, steady)
        client = new_client(server)
        transport = client.get_transport()
        assert transport is not None
        channels = timed(lambda: exec_on(transport), count, rounds)
        client.close()
        connections = timed(lambda: new_connection_command(server), count, 1)
    finally:
        ssh.close_connections()
        server.stop()

    ours = layers["auto"][1]
    print(f"{count} x {' '.join(COMMAND)!r} against OpenSSH on 127.0.0.1 (median of {rounds})")
    print(f"{'measure':44} {'total s':>9} {'per cmd ms':>11} {'ratio':>7}")
    rows = [
        ("our layer, python3 session loop", ours),
        ("our layer, POSIX sh session loop", layers["sh"][1]),
        ("exec channel per command (condorpy's way)", channels),
        ("new connection + auth per command (naive)", connections),
    ]
    for name, seconds in rows:
        print(f"{name:44} {seconds:9.3f} {seconds / count * 1000:11.2f} {seconds / ours:6.1f}x")
    print(
        f"first command incl. connect+auth+session start: python3 loop "
        f"{layers['auto'][0] * 1000:.0f} ms, sh loop {layers['sh'][0] * 1000:.0f} ms"
    )
    vs_connections, vs_channels = connections / ours, channels / ours
    ok = vs_connections >= 50 and vs_channels >= 20
    print(
        f"targets: vs new connections {vs_connections:.1f}x (>= 50x), "
        f"vs exec channels {vs_channels:.1f}x (>= 20x): {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
