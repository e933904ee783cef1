"""The plain-data Dask probe (old import path): see :mod:`tethys_compute.dask.probe`."""

from __future__ import annotations

from tethys_compute.dask.probe import (
    MAX_DEPTH,
    MAX_FRAMES,
    MAX_MESSAGE_BYTES,
    ProbeProtocolError,
    ask,
    check_plain,
    encode,
    handshake,
    read_message,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_FRAMES",
    "MAX_MESSAGE_BYTES",
    "ProbeProtocolError",
    "ask",
    "check_plain",
    "encode",
    "handshake",
    "read_message",
]
