"""Reading one Dask message with a size bound, for probes of addresses we do not trust.

``distributed``'s TCP comm reads an 8-byte length and allocates that many
bytes before reading them.  Any other TCP service behind a "Dask" address
answers with text (``HTTP/1.1 400 ...``, an SSH banner), whose first eight
bytes read as a length of exabytes: :class:`MemoryError` in the portal.
:func:`read_bounded` reads the same framing (through ``distributed``'s own
helpers) but checks every announced length first.
"""

from __future__ import annotations

import struct
from typing import Any

from distributed.comm.core import Comm
from distributed.comm.tcp import TCP, read_bytes_rw
from distributed.comm.utils import from_frames
from distributed.protocol.utils import unpack_frames

__all__ = ["MAX_PROBE_MESSAGE", "read_bounded"]

#: Largest message a probe accepts (a scheduler's handshake and ``identity``
#: reply are far smaller, even with thousands of workers).
MAX_PROBE_MESSAGE = 64 * 2**20


def _too_large(size: int, limit: int) -> ValueError:
    return ValueError(
        f"it announced a message of {size} bytes, more than the {limit} a Dask scheduler "
        "sends here (is another service listening on that port?)"
    )


async def read_bounded(comm: Comm, limit: int = MAX_PROBE_MESSAGE) -> Any:
    """Read one message from ``comm``, refusing one announced larger than ``limit`` bytes.

    TCP and TLS comms are read frame by frame with every length checked;
    other comms (in-process) are read as usual.

    Raises
    ------
    ValueError
        When a length is over ``limit`` or the frames are not Dask's.
    """
    stream = getattr(comm, "stream", None)
    if not isinstance(comm, TCP) or stream is None:
        return await comm.read()
    (size,) = struct.unpack("Q", await stream.read_bytes(8))
    if size > limit:
        raise _too_large(size, limit)
    packed = await read_bytes_rw(stream, size)
    try:
        frames, buffer_sizes = unpack_frames(packed, partial=True)
    except (struct.error, OverflowError, IndexError, ValueError) as exc:
        raise ValueError(f"its answer is not a Dask message ({type(exc).__name__})") from None
    if size + sum(buffer_sizes) > limit:
        raise _too_large(size + sum(buffer_sizes), limit)
    for buffer_size in buffer_sizes:
        frames.append(await read_bytes_rw(stream, buffer_size))
    return await from_frames(frames, deserialize=comm.deserialize)
