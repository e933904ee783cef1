"""Ways in to schedulers the portal cannot reach directly: an SSH tunnel over a record's connection.

The Dask transport only knows the :class:`~tethys_compute.dask.keys.Route`
protocol; this module builds the SSH one from the SSH transport, so the two
transports never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from tethys_compute.ssh import tunnel
from tethys_compute.ssh.target import SSHTarget


@dataclass(frozen=True)
class SSHRoute:
    """Reach ``host:port`` on the far side through one SSH tunnel per process over ``target``."""

    target: SSHTarget

    @property
    def display(self) -> str:
        return f"the SSH connection of {self.target.display}"

    @property
    def owner(self) -> str:
        """The record whose connection carries the tunnel (see :attr:`SSHTarget.owner`)."""
        return self.target.owner

    def open(self, host: str, port: int) -> str:
        """The tunnel's local ``host:port`` (opened once, then reused)."""
        return tunnel.forward(self.target, host, port).local_address

    def close(self, host: str, port: int) -> None:
        tunnel.close_tunnel(self.target, host, port)
