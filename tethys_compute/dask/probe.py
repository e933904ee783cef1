"""Asking a Dask scheduler who it is, without ever unpickling what it answers.

"Test connection" and :func:`~tethys_compute.dask_client.scheduler_identity`
talk to an address that a portal user typed, so the answer is untrusted: a
fake scheduler could reply with a pickled object, and ``distributed``'s own
comms unpickle ``__Pickled__`` parts of a message even with
``deserialize=False``.  This module therefore speaks the comm protocol's
framing itself and decodes every message with plain msgpack (no object hook,
no extension types), then checks that the reply holds only plain values:
``dict``, ``list``/``tuple``, ``str``, ``bytes``, ``int``, ``float``, ``bool``
and ``None``.  Anything else (a pickled or serialized part, an extension type)
fails the probe; nothing in a reply is ever turned into an object.

Every read is bounded: the announced size of a message (at most
:data:`MAX_MESSAGE_BYTES`), the number of its frames (:data:`MAX_FRAMES`) and
the nesting of its values (:data:`MAX_DEPTH`); the caller bounds the time.

The ``distributed.Client`` that apps use is another matter: it trusts its
scheduler by design (results travel pickled), see ``docs/security.rst``.
"""

from __future__ import annotations

import asyncio
import struct
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgpack
from distributed.comm.addressing import parse_address, parse_host_port
from distributed.security import Security

#: Largest message a probe reads (an identity of thousands of workers fits).
MAX_MESSAGE_BYTES = 32 * 2**20
#: Most frames a message may have (plain replies have one).
MAX_FRAMES = 64
#: Deepest nesting of lists and mappings accepted in a reply.
MAX_DEPTH = 32

_Q = struct.Struct("<Q")
_PLAIN_SCALARS = (str, bytes, int, float, bool, type(None))


class ProbeProtocolError(ValueError):
    """The peer does not speak the Dask comm protocol, or sent more than plain data."""


def _connection_args(address: str, security: Security | None) -> tuple[str, int, dict[str, Any]]:
    scheme, location = parse_address(address)
    host, port = parse_host_port(location)
    if port is None:
        raise ProbeProtocolError(f"{address} has no port")
    if scheme == "tcp":
        return host, int(port), {}
    if scheme == "tls":
        args = security.get_connection_args("client") if security is not None else {}
        context = args.get("ssl_context")
        if context is None:
            raise ProbeProtocolError(
                "a tls:// address needs TLS settings (DASK_TLS_CA_FILE, DASK_TLS_CERT_FILE, "
                "DASK_TLS_KEY_FILE)"
            )
        return host, int(port), {"ssl": context, "server_hostname": host}
    raise ProbeProtocolError(f"the {scheme}:// scheme cannot be probed; use tcp:// or tls://")


def encode(message: Mapping[str, Any]) -> bytes:
    """One message in the comm framing: total size, frame count and sizes, the frame."""
    frame = msgpack.packb(message, use_bin_type=True)
    prelude = _Q.pack(1) + _Q.pack(len(frame))
    return _Q.pack(len(prelude) + len(frame)) + prelude + frame


async def read_message(reader: asyncio.StreamReader) -> Any:
    """Read one message and decode it as plain msgpack (checked by :func:`check_plain`)."""
    (first,) = _Q.unpack(await reader.readexactly(_Q.size))
    if first < 2 * _Q.size or first > MAX_MESSAGE_BYTES:
        raise ProbeProtocolError(
            f"the peer announced a {first}-byte message, which is not a Dask message of at "
            f"most {MAX_MESSAGE_BYTES} bytes"
        )
    head = await reader.readexactly(first)
    (n_frames,) = _Q.unpack_from(head, 0)
    if not 1 <= n_frames <= MAX_FRAMES or _Q.size * (n_frames + 1) > first:
        raise ProbeProtocolError(f"the peer announced {n_frames} frames")
    sizes = struct.unpack_from(f"<{n_frames}Q", head, _Q.size)
    if sum(sizes) + _Q.size * (n_frames + 1) > MAX_MESSAGE_BYTES:
        raise ProbeProtocolError(f"the peer's message is larger than {MAX_MESSAGE_BYTES} bytes")
    if n_frames > 1:
        # A second frame carries a serialized or pickled part: never for plain data.
        raise ProbeProtocolError("the reply carries serialized (possibly pickled) parts")
    start = _Q.size * (n_frames + 1)
    frame = head[start : start + sizes[0]]
    if len(frame) < sizes[0]:
        frame += await reader.readexactly(sizes[0] - len(frame))
    try:
        value = msgpack.unpackb(frame, raw=False, strict_map_key=False, use_list=False)
    except (
        ValueError,
        TypeError,
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
    ) as exc:
        raise ProbeProtocolError(f"the reply is not msgpack ({type(exc).__name__})") from None
    check_plain(value)
    return value


def check_plain(value: Any, depth: int = 0) -> None:
    """Raise :class:`ProbeProtocolError` unless ``value`` holds plain data only.

    A mapping with a ``__Pickled__`` or ``__Serialized__`` key (how the comm
    protocol marks objects to rebuild) is refused too, though it was never
    rebuilt here.
    """
    if depth > MAX_DEPTH:
        raise ProbeProtocolError(f"the reply is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, _PLAIN_SCALARS):
        return
    if isinstance(value, msgpack.ExtType):
        raise ProbeProtocolError(f"the reply holds a msgpack extension type ({value.code})")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("__Pickled__", "__Serialized__"):
                raise ProbeProtocolError("the reply carries a pickled or serialized object")
            check_plain(key, depth + 1)
            check_plain(item, depth + 1)
        return
    if isinstance(value, Sequence):
        for item in value:
            check_plain(item, depth + 1)
        return
    raise ProbeProtocolError(f"the reply holds a {type(value).__name__}, not plain data")


def handshake() -> dict[str, Any]:
    """What this side announces: no compression (replies stay one plain frame)."""
    return {"compression": None, "python": tuple(sys.version_info)[:3], "pickle-protocol": 5}


async def ask(
    address: str,
    requests: Sequence[Mapping[str, Any]],
    security: Security | None = None,
    timings: list[float] | None = None,
) -> list[Any]:
    """Send each request (``{"op": ...}``) on one connection; return the plain replies.

    No deadline of its own: wrap it in ``asyncio.wait_for``.  The connection is
    closed before returning, whatever happens.  ``timings``, when given, gets the
    seconds of each request's round trip.

    Raises
    ------
    ProbeProtocolError
        When the peer does not answer like a Dask server with plain data.
    OSError, EOFError
        When the connection fails or closes (``asyncio.IncompleteReadError``).
    """
    host, port, extra = _connection_args(address, security)
    reader, writer = await asyncio.open_connection(host, port, **extra)
    try:
        writer.write(encode(handshake()))
        await writer.drain()
        remote = await read_message(reader)
        if not isinstance(remote, dict):
            raise ProbeProtocolError("the peer's handshake is not a mapping")
        replies = []
        for request in requests:
            started = time.perf_counter()
            writer.write(encode({**request, "reply": True}))
            await writer.drain()
            replies.append(await read_message(reader))
            if timings is not None:
                timings.append(time.perf_counter() - started)
        return replies
    finally:
        writer.transport.abort()
