"""SSH to HTCondor submit hosts: verified, reused connections and fast commands.

This module is the only place that talks SSH (with :mod:`paramiko`).  It
connects with password or key authentication, verifies the server's host key
(the portal's known_hosts file, a key pinned on the record, or, only when
allowed, trust on first use), keeps **one connection per target per process**
and runs commands through a **long-lived remote shell session** instead of
opening a new SSH channel for each command.

Why a persistent session
------------------------
On a loopback OpenSSH 9.2 server a new connection with authentication and one
command costs about 200 ms; one more ``exec_command`` on an open connection
still costs 25-95 ms, because sshd sets up a new session (and the login shell)
for every channel.  So each connection keeps up to ``SSH_MAX_SESSIONS``
channels, each running a small loop on the far side: a python3 loop
(:data:`PY_DRIVER`, sent at session start) when the host has python3, else a
POSIX ``/bin/sh`` loop (:data:`DRIVER`).  A command then costs one fork+exec
on the host plus a round trip, about 1-2 ms.

Each command is one request line.  It runs as its own process (the sh loop:
in its own subshell), so no ``cd``, variable or ``export`` leaks into the next
command; stdin comes from a file or ``/dev/null``, never from the session's
input; stdout and stderr go to files.  The answer is a fresh random marker
with the exit status, the exact byte sizes of both outputs, the bytes, and the
marker again: framing is by length, so no output can end an answer early.  A
command that outlives its timeout is killed with its process group; a session
that dies is replaced, and a request that never reached the host is retried
once on a new connection.

Layout: :mod:`~tethys_compute.ssh.target` (what to connect to),
:mod:`~tethys_compute.ssh.connect` (handshake, host keys, authentication),
:mod:`~tethys_compute.ssh.session` (the remote loops and framing),
:mod:`~tethys_compute.ssh.pool` (the per-process connection cache),
:mod:`~tethys_compute.ssh.host` (:class:`SSHHost`) and
:mod:`~tethys_compute.ssh.health` (connection tests).

The remote host needs a POSIX ``/bin/sh`` and ``mktemp`` (and, without
python3, ``wc`` and ``cat``), and an account whose login shell runs
``exec /bin/sh -c '...'`` (every Bourne- or csh-family shell does).

Examples
--------
>>> host = get_remote_host(scheduler)                      # doctest: +SKIP
>>> host.run(["condor_q", "-af", "ClusterId"]).stdout      # doctest: +SKIP
'12\\n'
"""

from __future__ import annotations

from tethys_compute.ssh.connect import scan_host_key
from tethys_compute.ssh.health import ssh_health, test_ssh
from tethys_compute.ssh.host import SSHCommandResult, SSHHost, get_remote_host, raise_for_status
from tethys_compute.ssh.pool import close_connections, close_owner, close_target
from tethys_compute.ssh.session import BOOT, DRIVER, PY_DRIVER, quote_argv
from tethys_compute.ssh.target import DRIVERS, HasSSHTarget, HostKeyInfo, SSHTarget, as_target

__all__ = [
    "BOOT",
    "DRIVER",
    "DRIVERS",
    "PY_DRIVER",
    "HasSSHTarget",
    "HostKeyInfo",
    "SSHCommandResult",
    "SSHHost",
    "SSHTarget",
    "as_target",
    "close_connections",
    "close_owner",
    "close_target",
    "get_remote_host",
    "quote_argv",
    "raise_for_status",
    "scan_host_key",
    "ssh_health",
    "test_ssh",
]
