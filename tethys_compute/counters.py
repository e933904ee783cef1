"""Counts of what the app sends to remote systems, kept where it is sent.

Every command the SSH layer writes into a remote session, every file
operation over SFTP, every call the app makes to a Dask scheduler and every
new connection (an SSH transport, a Dask client) adds one to a counter kept
per transport and target.  Tests and benchmarks read these counters instead
of trusting a figure a function reports about itself::

    with remote_calls.measure() as seen:
        refresh_jobs()
    assert seen.commands("ssh") == 2

The counters are process-wide and thread-safe; they cost a lock and a
dictionary update per remote call, which is nothing beside the call itself.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["KINDS", "Measurement", "RemoteCallCounter", "remote_calls"]

#: What is counted: a command run remotely, a file transfer or listing over
#: SFTP, and a newly opened connection.
KINDS = ("commands", "transfers", "connections")


@dataclass
class Measurement:
    """What was counted between the start and the end of :meth:`RemoteCallCounter.measure`.

    Attributes
    ----------
    counts : Counter
        ``(transport, target, kind) -> number``; filled when the block ends.
    """

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def _total(self, kind: str, transport: str | None, target: str | None) -> int:
        return sum(
            n
            for (t, where, k), n in self.counts.items()
            if k == kind and transport in (None, t) and target in (None, where)
        )

    def commands(self, transport: str | None = None, target: str | None = None) -> int:
        """Remote commands (SSH) or scheduler calls (Dask), optionally of one transport/target."""
        return self._total("commands", transport, target)

    def transfers(self, transport: str | None = None, target: str | None = None) -> int:
        """SFTP operations (uploads, downloads, listings)."""
        return self._total("transfers", transport, target)

    def connections(self, transport: str | None = None, target: str | None = None) -> int:
        """Connections opened (SSH transports, Dask clients)."""
        return self._total("connections", transport, target)

    def targets(self, transport: str | None = None) -> set[str]:
        """The targets that were sent anything."""
        return {where for (t, where, _k) in self.counts if transport in (None, t)}


class RemoteCallCounter:
    """Process-wide counts of remote calls, per ``(transport, target, kind)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, str]] = Counter()
        self._local = threading.local()

    def add(self, transport: str, target: str, kind: str, n: int = 1) -> None:
        """Count ``n`` of ``kind`` (one of :data:`KINDS`) sent to ``target`` over ``transport``."""
        if kind not in KINDS:
            raise ValueError(f"Unknown kind of remote call {kind!r}; one of {', '.join(KINDS)}.")
        key = (transport, target, kind)
        with self._lock:
            self._counts[key] += n
        for seen in getattr(self._local, "active", ()):
            seen.counts[key] += n

    def snapshot(self) -> Counter[tuple[str, str, str]]:
        """A copy of every count so far."""
        with self._lock:
            return Counter(self._counts)

    @contextmanager
    def measure(self) -> Iterator[Measurement]:
        """Count what is sent while the block runs (by any thread of this process)."""
        before = self.snapshot()
        seen = Measurement()
        try:
            yield seen
        finally:
            after = self.snapshot()
            after.subtract(before)
            seen.counts = Counter({key: n for key, n in after.items() if n})

    @contextmanager
    def measure_thread(self) -> Iterator[Measurement]:
        """Count only what the calling thread sends while the block runs.

        Used where several threads talk to several targets at once (the
        refresh asks each scheduler in its own thread) and each needs its own
        figure.
        """
        seen = Measurement()
        active: list[Measurement] = getattr(self._local, "active", [])
        self._local.active = [*active, seen]
        try:
            yield seen
        finally:
            self._local.active = active


#: The one counter of this process.
remote_calls = RemoteCallCounter()
