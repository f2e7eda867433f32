"""When bytes reached this machine, as the kernel stamped them (SO_TIMESTAMPNS, Linux TCP).

A process that reads late (a busy event loop, a saturated machine) still learns when the
bytes arrived. The harness stamps every frame it receives this way, and the reference
platform its ground truth, so neither side's own queueing counts as the other's latency.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not export it
_ANCILLARY_SPACE = socket.CMSG_SPACE(16)  # one struct timespec


def enable(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what `sock` receives; False where it cannot (TLS, not Linux)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def recv(sock: socket.socket, size: int, now: Callable[[], float]) -> tuple[bytes, float | None]:
    """Up to `size` bytes from `sock` (on which `enable` succeeded), and when they arrived on
    the monotonic clock `now` reads; None when the kernel sent no stamp.

    Bytes that arrived at different moments but are read together share one stamp (Linux
    gives the latest segment's), so a reader that falls behind by more than the gap between
    two frames gives the earlier one the later time: one more reason a lagging run is
    invalid."""
    data, ancillary, _, _ = sock.recvmsg(size, _ANCILLARY_SPACE)
    # The stamp is wall-clock: read both clocks back to back, so what lies between the two
    # reads (microseconds of Python, once a -5 us chat_gap) does not shift the arrival.
    wall = time.time()
    return data, _arrival(ancillary, wall, now())


def _arrival(ancillary: list[tuple[int, int, bytes]], wall: float, now: float) -> float | None:
    for level, kind, raw in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
            seconds, nanoseconds = struct.unpack("qq", raw[:16])
            waited = wall - (seconds + nanoseconds / 1e9)
            return now - max(waited, 0.0)
    return None
