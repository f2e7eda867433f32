"""The WebSocket wire format, client side (RFC 6455), without I/O: the opening handshake's
request and the check of its response, and masked frames.

websocket-client did this for the transport, at a tenth of a lifecycle's CPU: a handshake
through four layers (URL parsing twice, a header dict, a cookie jar), and a frame object,
an os.urandom system call and a Python XOR per frame sent. Here the request is one format,
the response one split, a frame one pack and websockets' C `apply_mask` (the platform's
WebSocket library, already a dependency); keys and masks are still os.urandom's, one call
each (cheaper under gevent than a locked pool of them). conform's raw peer still uses
websocket-client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
from enum import IntEnum

try:
    from websockets.speedups import apply_mask
except ImportError:  # a build of websockets without its C extension
    from websockets.utils import apply_mask

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD_BYTES = 65536
"""A response whose status line and headers are longer is refused (a browser's limits are
of this order); a 101 is a few hundred bytes."""


class Opcode(IntEnum):
    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class HandshakeRejected(Exception):
    """The platform answered the upgrade with something other than a valid 101: another
    HTTP status (a redirect included: a browser follows none), a garbled status line or
    header, or a missing or wrong Upgrade, Connection or Sec-WebSocket-Accept."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HandshakeDropped(ConnectionError):
    """The connection ended before the whole response head came."""


def random_bytes(n: int) -> bytes:
    """n unpredictable bytes (keys, masks). os.urandom each time: a pool of them needed a
    lock (discovery draws from threads), and gevent's lock cost twice the system call."""
    return os.urandom(n)


def new_key() -> str:
    """A Sec-WebSocket-Key: 16 random bytes, base64."""
    return base64.b64encode(random_bytes(16)).decode()


def handshake_request(
    host: str, port: int, secure: bool, resource: str, key: str, headers: tuple[str, ...] = ()
) -> bytes:
    """The upgrade request: Host (the port left out when it is the scheme's), the WebSocket
    headers, then `headers` ("Name: value") as given (the Origin is among them)."""
    name = f"[{host}]" if ":" in host else host
    default = 443 if secure else 80
    authority = name if port == default else f"{name}:{port}"
    lines = [
        f"GET {resource or '/'} HTTP/1.1",
        f"Host: {authority}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a platform must answer `key` with."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


_STATUS_LINE = re.compile(r"HTTP/\d\.\d ([0-9]{3})(?: (.*))?")


def check_response(head: bytes, key: str, offered: tuple[str, ...] = ()) -> None:
    """Raise HandshakeRejected unless `head` (the status line and headers, each line ending
    in CRLF or LF) is a valid 101 answering `key` (RFC 6455 4.1). `offered`: the request's
    own headers ("Name: value"), for the subprotocols it offered; the harness negotiates no
    extension, so a response that names one is refused (its frames could not be read)."""
    try:
        text = head.decode()
    except UnicodeDecodeError as exc:
        raise HandshakeRejected(f"a response header that is not UTF-8 (byte {exc.start})") from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]  # only CRLF or LF end one
    status = _STATUS_LINE.fullmatch(lines[0])
    if status is None:
        raise HandshakeRejected(f"Invalid status line: {lines[0][:80]!r}")
    code = int(status[1])
    if code != 101:
        raise HandshakeRejected(f"HTTP {code} {(status[2] or '').strip()}".rstrip(), code)
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise HandshakeRejected(f"Invalid header line: {line[:80]!r}", code)
        headers.setdefault(name.strip().lower(), []).append(value.strip())

    def tokens(name: str) -> list[str]:  # a list-valued header, however many times it came
        return [t.strip().lower() for value in headers.get(name, []) for t in value.split(",")]

    if tokens("upgrade") != ["websocket"]:
        raise HandshakeRejected("Invalid WebSocket Header: Upgrade is not websocket", code)
    if "upgrade" not in tokens("connection"):
        raise HandshakeRejected("Invalid WebSocket Header: Connection lacks upgrade", code)
    accept = headers.get("sec-websocket-accept", [])
    if len(accept) != 1 or not hmac.compare_digest(accept[0].encode(), accept_for(key).encode()):
        raise HandshakeRejected("Invalid WebSocket Header: wrong Sec-WebSocket-Accept", code)
    if any(tokens("sec-websocket-extensions")):
        raise HandshakeRejected("Invalid WebSocket Header: an extension nobody asked for", code)
    protocol = tokens("sec-websocket-protocol")
    if any(protocol) and (len(protocol) != 1 or protocol[0] not in _subprotocols(offered)):
        raise HandshakeRejected("Invalid WebSocket Header: a subprotocol not offered", code)


def _subprotocols(headers: tuple[str, ...]) -> list[str]:
    """The subprotocols that request headers ("Name: value") offer; looked at only when a
    response names one (every connection checks its response)."""
    return [
        token.strip().lower()
        for name, _, value in (line.partition(":") for line in headers)
        if name.strip().lower() == "sec-websocket-protocol"
        for token in value.split(",")
    ]


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    mask = random_bytes(4)
    return header + mask + apply_mask(payload, mask)


def text_frames(messages: list[str]) -> bytes:
    """Text frames for `messages`, one write's worth."""
    return b"".join([frame(Opcode.TEXT, text.encode()) for text in messages])


def close_frame(code: int, reason: bytes = b"") -> bytes:
    """A close frame; its reason cut to the 123 bytes a control frame has room for (at a
    character's boundary: the reason must stay UTF-8)."""
    if len(reason) > 123:
        reason = reason[:123].decode("utf-8", "ignore").encode()
    return frame(Opcode.CLOSE, struct.pack("!H", code) + reason)
