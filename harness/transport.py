"""Drives a ClientSession over a real socket (the wire format: harness/wire.py).

Works in a plain process and under Locust's gevent monkey-patching, in the caller's thread
(or greenlet), which reads the frames while it waits. The `connect` phase runs from the
start of the TCP connect to the parsed `101`; the host name is resolved once beforehand and
cached, because under gevent a lookup is a hop to a thread pool, which is the harness's
delay, not the platform's.
Every frame carries the time its bytes arrived (the kernel's, where it gives one).

The connection timeout bounds TCP + TLS + upgrade together, whatever the platform trickles.
A platform that breaks the protocol (a malformed message, a frame over `max_frame_bytes`, a
framing error) fails the connection as `protocol_error`: the close frame the session names
(1002, 1007 or 1009) goes out and the socket is dropped, nothing is raised.
"""

from __future__ import annotations

import _socket
import contextlib
import errno
import os
import re
import socket
import ssl
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import websocket
from gevent.hub import Waiter, get_hub

from harness import kerneltime, wire
from harness.errors import ErrorClass
from harness.protocol import messages as m
from harness.protocol.clock import Clock
from harness.protocol.messages import CloseCode
from harness.protocol.session import Chat, ClientSession, PhaseSample, State
from harness.wire import HandshakeRejected, Opcode

FrameHook = Callable[[str, "m.ServerEvent | str | None", float], None]
"""Called with ("recv", event, at) and ("send", frame, at), in order; for logs, keep it cheap."""


@dataclass(frozen=True)
class TlsOptions:
    """Certificate verification is on unless turned off explicitly (and then recorded)."""

    verify: bool = True
    ca_bundle: Path | None = None

    def context(self) -> ssl.SSLContext:
        """One context per options and process: loading the CA store costs milliseconds."""
        return _ssl_context(self)


@lru_cache(maxsize=8)
def _ssl_context(options: TlsOptions) -> ssl.SSLContext:
    cafile = str(options.ca_bundle) if options.ca_bundle else None
    context = ssl.create_default_context(cafile=cafile)
    if not options.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@lru_cache(maxsize=64)
def _target(base: str) -> tuple[str, int, bool, str]:
    """(host, port, secure, path) of a URL without its query (one split per target)."""
    parts = urlsplit(base)
    secure = parts.scheme == "wss"
    return parts.hostname or "", parts.port or (443 if secure else 80), secure, parts.path or "/"


@lru_cache(maxsize=64)
def resolve(host: str, port: int) -> tuple[int, tuple[str, int]]:
    """(family, address) for host:port, looked up once per process."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return family, (str(address[0]), int(address[1]))


# This machine ran out of something (descriptors, buffers, ephemeral ports): the harness's
# failure, not the platform's.
_LOCAL_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}


def classify(exc: BaseException) -> ErrorClass:
    """The error class of a failed connection attempt."""
    if isinstance(exc, ConnectionRefusedError):
        return ErrorClass.CONNECTION_REFUSED
    if isinstance(exc, TimeoutError | socket.timeout | websocket.WebSocketTimeoutException):
        return ErrorClass.CONNECT_TIMEOUT
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ErrorClass.TLS_ERROR
    if isinstance(exc, websocket.WebSocketConnectionClosedException | ConnectionError):
        return ErrorClass.DROPPED  # connected, then reset or closed before the 101
    if isinstance(exc, HandshakeRejected | websocket.WebSocketException):
        # An HTTP status other than 101, a wrong Sec-WebSocket-Accept or Upgrade header, a
        # garbled status line, a redirect (a browser does not follow one either).
        return ErrorClass.HANDSHAKE_REJECTED
    if isinstance(exc, OSError):
        if exc.errno in _LOCAL_ERRNOS:
            return ErrorClass.HARNESS_ERROR
        return ErrorClass.CONNECTION_REFUSED  # unreachable network or host, lookup failure
    return ErrorClass.HARNESS_ERROR  # an exception of ours


class FrameError(ConnectionError):
    """The platform broke RFC 6455 framing, or announced a frame over the size limit."""

    def __init__(self, message: str, close_code: int = CloseCode.PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.close_code = close_code


class BufferedSocket:
    """A socket read 64 KiB at a time, timestamped by the kernel: the handshake's response
    head (read_head) and the platform's frames (read_frame) are cut from that buffer.

    `arrived` is when the latest bytes reached this machine, on the session's monotonic
    clock. With kernel timestamps (SO_TIMESTAMPNS, plain TCP on Linux) that is the moment
    the kernel received them, however late the event loop got to them; over TLS (recvmsg
    is not allowed on an SSL socket) it is the moment the read returned.

    `deadline` (monotonic, set for the handshake): read_head ends by then, raising
    TimeoutError, however slowly the bytes come. read_frame, the hot path, does not look
    at it."""

    __slots__ = (
        "__weakref__",
        "_buffer",
        "_clock",
        "_sock",
        "arrived",
        "deadline",
        "eof",
        "kernel_timestamps",
        "max_frame_bytes",
    )  # held by the ten thousand (see ClientSession)

    def __init__(
        self, sock: socket.socket, clock: Clock, max_frame_bytes: int = sys.maxsize
    ) -> None:
        self._sock = sock
        self._clock = clock
        self._buffer = b""
        self.eof = False
        self.arrived: float | None = None
        self.deadline: float | None = None
        self.max_frame_bytes = max_frame_bytes
        # recvmsg is not allowed on an SSL socket
        self.kernel_timestamps = not isinstance(sock, ssl.SSLSocket) and kerneltime.enable(sock)

    def read_head(self, limit: int = wire.MAX_HEAD_BYTES) -> bytes:
        """The handshake response's status line and headers, up to and including the empty
        line; what came after them stays buffered (a frame sent with the 101). Raises
        TimeoutError at `deadline`, HandshakeDropped at EOF, HandshakeRejected past `limit`."""
        searched = 0  # the end was not before this (less the 3 bytes it could start with)
        while True:
            end = _HEAD_END.search(self._buffer, max(0, searched - 3))
            if end is not None and end.end() <= limit:
                head, self._buffer = self._buffer[: end.end()], self._buffer[end.end() :]
                return head
            if len(self._buffer) > limit:
                raise HandshakeRejected(f"a response head of more than {limit} bytes")
            if self.eof:
                raise wire.HandshakeDropped("the connection closed during the handshake")
            searched = len(self._buffer)
            self._fill_by_deadline()

    def _fill_by_deadline(self) -> None:
        """_fill, waiting at most until `deadline` if one is set."""
        if self.deadline is not None:
            left = self.deadline - self._clock.now()
            if left <= 0:
                raise TimeoutError("the connection timeout passed during the handshake")
            self.settimeout(left)
        self._fill()

    def _fill(self) -> None:
        """Append what the socket has (waiting up to its timeout); EOF appends nothing."""
        if self.kernel_timestamps:
            before = self.arrived
            data, self.arrived = kerneltime.recv(self._sock, 65536, self._clock.now)
            if self.arrived is None:  # accepted, but not delivered: stamp reads from now on
                self.kernel_timestamps = False
                self.arrived = self._clock.now()
            elif before is not None and self.arrived < before:
                # Later bytes of one stream never arrived first: a stamp that says so is the
                # conversion's jitter (wall clock to monotonic), and must not make a
                # negative chat_gap between two chunks that came microseconds apart.
                self.arrived = before
        else:
            data = self._sock.recv(65536)
            self.arrived = self._clock.now()
        self._buffer += data
        if not data:
            self.eof = True

    def read_frame(self) -> tuple[bool, int, bytes]:
        """(fin, opcode, payload) of the platform's next WebSocket frame (RFC 6455 5.2).

        Raises TimeoutError when none completes within the socket's timeout (a partial
        frame stays buffered for the next call), FrameError (a ConnectionError) when the
        frame breaks the protocol or its header announces more than `max_frame_bytes` (then
        at once: the rest of its payload is not waited for; one that came whole in one read
        is returned, the session refuses it), and ConnectionError when the connection
        ends. websocket-client's own reader took about 20 Python calls per frame through
        four layers; this is the harness's hot path."""
        while True:
            buffer = self._buffer
            have = len(buffer)
            if have >= 2:
                first, second = buffer[0], buffer[1]
                if first & 0x70 or second & 0x80:
                    raise FrameError("reserved bits set, or a masked frame from the server")
                length, start = second & 0x7F, 2
                if length == 126 and have >= 4:
                    length, start = int.from_bytes(buffer[2:4], "big"), 4
                elif length == 127 and have >= 10:
                    length, start = int.from_bytes(buffer[2:10], "big"), 10
                if length < 126 or start > 2:
                    end = start + length
                    if have >= end:
                        self._buffer = buffer[end:]
                        return bool(first & 0x80), first & 0x0F, buffer[start:end]
                    # Checked only before waiting for more: a frame that came whole with one
                    # read costs nothing here (the session checks the size of a message).
                    if length > self.max_frame_bytes:
                        raise FrameError(
                            f"a frame of {length} bytes > max_frame_bytes {self.max_frame_bytes}",
                            CloseCode.MESSAGE_TOO_BIG,
                        )
            if self.eof:
                raise ConnectionError("connection closed")
            self._fill()

    def getsockname(self) -> tuple[str, int]:
        address = self._sock.getsockname()
        return str(address[0]), int(address[1])

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def sendall(self, data: bytes) -> None:
        """All of `data` (waiting up to the socket's timeout while the kernel has no room):
        gevent's sendall asks the kernel for the send buffer's size first, every time."""
        sent = self._sock.send(data)
        while sent < len(data):
            data = data[sent:]
            sent = self._sock.send(data)

    def shutdown(self) -> None:
        """Drop the connection now: no more reads or writes (closing the socket follows)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._sock.close()


class GreenSocket(BufferedSocket):
    """A plain TCP connection in a gevent process, without gevent's socket wrapper: the
    socket is non-blocking, and a wait is this connection's one io watcher, a timer and a
    Waiter on the hub. gevent's wrapper made a Timeout object and went through four Python
    layers for every read; side by side, a round trip cost 16 us of CPU that way and 11 us
    this way. One greenlet uses a connection at a time (the user's: see Connection)."""

    __slots__ = ("_hub", "_io", "_timeout", "_waiter")

    def __init__(self, sock: socket.socket, clock: Clock, max_frame_bytes: int) -> None:
        super().__init__(sock, clock, max_frame_bytes)
        self._timeout: float | None = None
        self._hub = get_hub()
        self._io = self._hub.loop.io(sock.fileno(), _READ)
        self._waiter: Any = None  # while a greenlet waits

    @classmethod
    def connect(
        cls,
        family: int,
        address: tuple[str, int],
        source: str | None,
        deadline: float,
        clock: Clock,
        max_frame_bytes: int,
    ) -> GreenSocket:
        """Connected to `address` by `deadline` (else TimeoutError), from `source` if given."""
        sock = _socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if source is not None:
                bind_source(sock, source)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            green = cls(sock, clock, max_frame_bytes)  # type: ignore[arg-type]
        except BaseException:
            sock.close()
            raise
        try:
            error = sock.connect_ex(address)
            if error == errno.EINPROGRESS:
                green._wait(_WRITE, deadline - clock.now())
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, os.strerror(error))  # ConnectionRefusedError, ...
        except BaseException:
            green.close()
            raise
        return green

    def _fill(self) -> None:
        while True:
            try:
                return super()._fill()
            except BlockingIOError:
                pass  # (waiting inside the handler kept the exception and its frames alive)
            self._wait(_READ, self._timeout)

    def sendall(self, data: bytes) -> None:
        while True:
            try:
                sent = self._sock.send(data)
            except BlockingIOError:
                sent = 0  # the kernel's buffer is full
            if sent == len(data):
                return
            if sent == 0:
                self._wait(_WRITE, self._timeout)
            data = data[sent:]

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def close(self) -> None:
        """Closed; a greenlet waiting on it wakes (and its next read or send fails), as with
        gevent's sockets."""
        waiter = self._waiter
        if waiter is not None:
            self._hub.loop.run_callback(waiter.switch, True)
        self._io.stop()
        self._io.close()
        self._sock.close()

    def _wait(self, events: int, timeout: float | None) -> None:
        """Until the socket is readable (_READ) or writable (_WRITE); TimeoutError after
        `timeout` seconds (None: no limit)."""
        io = self._io
        if io.events & _READ_WRITE != events:
            io.events = events
        waiter = self._waiter = Waiter(self._hub)
        timer = None
        try:
            io.start(waiter.switch, True)
            if timeout is not None:
                timer = self._hub.loop.timer(timeout if timeout > 0 else 0.0)  # (NaN: 0)
                timer.start(waiter.switch, False, update=True)  # as gevent's Timeout starts
            ready = waiter.get()
        finally:
            self._waiter = None
            io.stop()
            if timer is not None:
                timer.stop()
                timer.close()
        if not ready:
            raise TimeoutError("timed out")


_READ, _WRITE = 1, 2  # libev's EV_READ, EV_WRITE
_READ_WRITE = _READ | _WRITE


# Linux's: bind the address now, the port at connect (as an unbound socket gets one). Its
# number means something else elsewhere, so it is set only where it is this option.
IP_BIND_ADDRESS_NO_PORT: int | None = getattr(
    socket, "IP_BIND_ADDRESS_NO_PORT", 24 if sys.platform == "linux" else None
)


def bind_source(sock: _socket.socket, source: str) -> None:
    """Connect from `source`, its port chosen by connect(): a port then serves one connection
    to each destination, and one in TIME_WAIT can be reused, as for any client. Bound to
    port 0 at once, each socket took a port of its own for every destination: one address
    ran out at ~28,000 sessions, and right after a 50,000-session run the kernel's search for
    a free one among those in TIME_WAIT stalled workers for seconds (lost at 750/s)."""
    if IP_BIND_ADDRESS_NO_PORT is not None:  # (elsewhere the port is bound at once)
        with contextlib.suppress(OSError):  # an old kernel
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    sock.bind((source, 0))


def _green() -> bool:
    """Whether gevent has patched the socket module (a Locust process)."""
    return socket.socket.__module__.startswith("gevent")


_HEAD_END = re.compile(rb"\r?\n\r?\n")


def describe(exc: BaseException) -> str:
    """A failed connection attempt in a few words."""
    if isinstance(exc, HandshakeRejected):
        return str(exc)
    if isinstance(exc, websocket.WebSocketBadStatusException):  # conform's peer
        return f"HTTP {exc.status_code} {exc.status_message or ''}".rstrip()
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


class Connection:
    """One socket for one ClientSession at a time (call open() again to reconnect).

    No reader thread: the caller's thread (a Locust user's greenlet) reads the frames while
    it waits in run_until. A frame that arrives while nobody waits keeps its kernel arrival
    time, so nothing is lost by reading late; and one thread per connection means no locks,
    no condition variable and no hand-over between a reader and the user (each cost CPU on
    every frame)."""

    __slots__ = (
        "_closing",
        "_fragment_bytes",
        "_fragments",
        "_socket",
        "clock",
        "detail",
        "hook",
        "session",
        "source",
        "tls",
    )

    def __init__(
        self,
        session: ClientSession,
        tls: TlsOptions | None = None,
        hook: FrameHook | None = None,
        source: str | None = None,
    ) -> None:
        self.session = session
        self.clock = session.clock
        self.tls = tls or TlsOptions()
        self.hook = hook
        self.source = source  # the local address to connect from (None: the system's)
        self.detail = ""  # what went wrong, in words, for the last failure
        self._socket: BufferedSocket | None = None  # while the connection is open
        self._fragments: list[bytes] = []  # a fragmented message so far
        self._fragment_bytes = 0
        self._closing = False  # our close frame is sent

    # -- opening -----------------------------------------------------------------------------

    def open(self, url: str, at: float | None = None) -> bool:
        """Connect and upgrade; True once the session is CONNECTED. May raise CircuitOpen.

        `at`: when this connection was due (an open-model arrival's scheduled start), so its
        phases are measured from then, lateness included."""
        base, mark, query = url.partition("?")
        host, port, secure, path = _target(base)
        timeout = self.session.settings.connection_timeout_s
        self.detail = ""
        try:
            family, address = resolve(host, port)
        except OSError as exc:
            self.session.connect(at)
            self.detail = f"cannot resolve {host}: {exc}"
            self.session.connect_failed(ErrorClass.CONNECTION_REFUSED)
            return False
        self.session.connect(at)
        deadline = self.clock.now() + timeout  # for TCP, TLS and the upgrade together
        resource = f"{path}{mark}{query}"
        buffered: BufferedSocket | None = None
        try:
            if secure or not _green():
                buffered = self._blocking_socket(family, address, host, secure, deadline)
            else:
                buffered = GreenSocket.connect(
                    family, address, self.source, deadline, self.clock, self._max_frame_bytes
                )
            buffered.settimeout(max(0.001, deadline - self.clock.now()))
            buffered.deadline = deadline  # each handshake read waits at most until then
            key = wire.new_key()
            headers = self.session.settings.handshake_headers  # the Origin among them
            buffered.sendall(wire.handshake_request(host, port, secure, resource, key, headers))
            # Anything but a valid 101 is refused: a browser's WebSocket follows no redirect.
            wire.check_response(buffered.read_head(), key, headers)
            buffered.deadline = None
        except Exception as exc:  # every failure is classified, none escapes
            at = self.clock.now()
            if buffered is not None:
                buffered.close()
            self.detail = describe(exc)
            if self.session.state is State.CONNECTING:
                self.session.connect_failed(classify(exc), at)
            return False
        at = buffered.arrived or self.clock.now()  # when the 101 arrived
        self._socket, self._closing, self._fragments = buffered, False, []
        self._fragment_bytes = 0
        self.session.opened(at)
        return True

    @property
    def _max_frame_bytes(self) -> int:
        return self.session.settings.max_frame_bytes

    def _blocking_socket(
        self, family: int, address: tuple[str, int], host: str, secure: bool, deadline: float
    ) -> BufferedSocket:
        """Connected (and for wss, TLS-wrapped), each call waiting up to the socket's timeout:
        in a plain process, and for TLS under gevent (gevent's sockets)."""
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if self.source is not None:
                bind_source(sock, self.source)
            sock.settimeout(max(0.001, deadline - self.clock.now()))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(address)
            if secure:
                sock.settimeout(max(0.001, deadline - self.clock.now()))
                sock = self.tls.context().wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        return BufferedSocket(sock, self.clock, self._max_frame_bytes)

    # -- driving -----------------------------------------------------------------------------

    def run_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Read frames and keep the session's deadlines (auth, heartbeats, timeouts) until
        `done()` holds, the connection ends, or `timeout` seconds pass. Returns `done()`."""
        end = self.clock.now() + timeout
        while True:
            now = self.clock.now()
            self._poll(now)
            if done():
                return True
            if not self.is_open() or now >= end:
                return done()
            deadline = self.session.next_deadline()
            wait = min(end, deadline if deadline is not None else end) - now
            self._receive(wait)

    def wait_ready(self) -> bool:
        """Run until READY (True) or the connection failed or timed out (False)."""
        s = self.session
        return self.run_until(lambda: s.state is State.READY, s.settings.ready_timeout_s + 1)

    def chat(self, content: str, typing: bool = False, chat: Chat | None = None) -> str | None:
        """Send (or queue) a user message, after a `typing` indicator if asked; its id.
        `chat`: the caller's record of it (see ClientSession.send_chat)."""
        if typing and self.session.state is State.READY:
            self.session.send_typing(True)
        message_id = self.session.send_chat(content, chat=chat)
        self._flush()
        return message_id

    def typing(self, active: bool = True) -> None:
        """Send `typing` (or `stop_typing`) now."""
        self.session.send_typing(active)
        self._flush()

    def ping(self) -> None:
        """Send a heartbeat now (besides the session's own every heartbeat interval)."""
        self.session.send_ping()
        self._flush()

    @property
    def local_address(self) -> tuple[str, int] | None:
        """(address, port) this connection comes from, while it is open."""
        sock = self._socket
        if sock is None:
            return None
        return sock.getsockname()

    def is_open(self) -> bool:
        return self.session.state in (State.CONNECTED, State.READY, State.DISCONNECTING)

    def close(self, timeout: float = 2.0) -> None:
        """Close handshake: send 1000, read until the platform's close, then the socket goes."""
        if self._socket is None:
            return
        if self.session.state is not State.DISCONNECTING:
            self.session.close()
        self._send_close()
        end = self.clock.now() + timeout
        while self._socket is not None:
            wait = end - self.clock.now()
            if wait <= 0:
                self._lost()
                break
            self._receive(wait)

    def abort(self) -> None:
        """Drop the socket without a close handshake, on purpose: nothing in flight counts as
        a platform failure (the run ended under it)."""
        self.session.close()
        sock = self._socket
        if sock is not None:
            sock.shutdown()
            self._lost()

    # -- internals ---------------------------------------------------------------------------

    def _poll(self, now: float) -> None:
        """The session's deadlines, then its outbox; the phase samples they end are passed
        on after the frames are on the wire, so recording them (histograms, Locust's request
        events) never sits between a phase's timestamp and its send (the auth's, above all)."""
        session = self.session
        sink = session.on_phase
        deferred: list[PhaseSample] = []
        session.on_phase = deferred.append
        try:
            session.poll(now)
        finally:
            session.on_phase = sink
        self._flush()
        for sample in deferred:
            sink(sample)

    def _flush(self) -> None:
        """Send the session's outbox, and our close if the session is closing."""
        frames = self.session.data_to_send()
        sock = self._socket
        if sock is None:
            return
        if frames:
            sock.settimeout(self.session.settings.connection_timeout_s)
            # Every frame due now in one write: a chat and its typing indicator were two
            # syscalls, a tenth of a lifecycle's CPU where syscalls are dear (gVisor).
            try:
                sock.sendall(wire.text_frames(frames))
            except OSError:
                self._lost()
                return
            if self.hook is not None:
                now = self.clock.now()
                for frame in frames:
                    self.hook("send", frame, now)
        if not self._closing and self.session.state is State.DISCONNECTING:
            self._send_close()  # the session gave up (ready timeout): close at its deadline

    def _send_close(self) -> None:
        sock = self._socket
        if self._closing or sock is None:
            return
        self._closing = True
        sock.settimeout(self.session.settings.connection_timeout_s)
        try:
            sock.sendall(wire.close_frame(CloseCode.NORMAL))
        except OSError:
            self._lost()

    def _receive(self, wait: float) -> None:
        """Handle the next frame if it comes within `wait` seconds."""
        sock = self._socket
        if sock is None:
            return
        sock.settimeout(max(wait, 0.0005))
        try:
            fin, opcode, payload = sock.read_frame()
        except TimeoutError:
            return  # nothing came: back to the session's deadlines
        except FrameError as exc:
            self._fail(exc.close_code, str(exc))
            return
        except OSError:  # ConnectionError included: lost without a close frame
            self._lost()
            return
        at = sock.arrived or self.clock.now()
        if opcode == Opcode.TEXT or opcode == Opcode.BINARY:
            if self._fragments:
                self._fail(CloseCode.PROTOCOL_ERROR, "a new message inside a fragmented one")
            elif fin:  # the usual frame: a whole message
                self._deliver(payload, at)
            elif len(payload) > self.session.settings.max_frame_bytes:
                self._fail(CloseCode.MESSAGE_TOO_BIG, "a message over max_frame_bytes")
            else:
                self._fragments, self._fragment_bytes = [payload], len(payload)
        elif opcode == Opcode.CONT:
            self._continue(fin, payload, at)
        elif opcode > Opcode.PONG or opcode < Opcode.CLOSE:
            self._fail(CloseCode.PROTOCOL_ERROR, f"reserved opcode {opcode}")
        elif not fin or len(payload) > 125:
            self._fail(CloseCode.PROTOCOL_ERROR, "a fragmented or long control frame")
        elif opcode == Opcode.CLOSE:
            code: int | None = None
            reason = ""
            if len(payload) >= 2:
                code = struct.unpack("!H", payload[:2])[0]
                reason = payload[2:].decode("utf-8", "replace")
            if not self._closing:
                self._closing = True
                with contextlib.suppress(OSError):
                    sock.sendall(wire.close_frame(code or 1000))  # echo: the handshake ends
            self._ended(code, reason, at)
        elif opcode == Opcode.PING:
            try:
                sock.sendall(wire.frame(Opcode.PONG, payload))
            except OSError:
                self._lost()

    def _continue(self, fin: bool, payload: bytes, at: float) -> None:
        """A continuation frame: the message grows, and is delivered at its last frame."""
        if not self._fragments:
            self._fail(CloseCode.PROTOCOL_ERROR, "a continuation frame with no message")
            return
        self._fragment_bytes += len(payload)
        limit = self.session.settings.max_frame_bytes
        if self._fragment_bytes > limit:
            text = f"a fragmented message of more than {limit} bytes (max_frame_bytes)"
            self._fail(CloseCode.MESSAGE_TOO_BIG, text)
            return
        self._fragments.append(payload)
        if fin:
            data, self._fragments, self._fragment_bytes = b"".join(self._fragments), [], 0
            self._deliver(data, at)

    def _deliver(self, data: bytes, at: float) -> None:
        event = self.session.receive(data, at)
        if self.hook is not None:
            self.hook("recv", event, at)
        if event is None:  # the session could not accept it and failed the connection
            self._drop_failed()

    def _fail(self, code: int, reason: str) -> None:
        """The platform broke the protocol below the session's messages (framing, size)."""
        self.session.fail(code, reason, self.clock.now())
        self._drop_failed()

    def _drop_failed(self) -> None:
        """The session failed the connection: send the close frame it names (unless ours
        went already) and drop the socket without waiting for the platform's answer."""
        sock = self._socket
        self._socket, self._fragments, self._fragment_bytes = None, [], 0
        if sock is None:
            return
        code, reason = self.session.fail_close or (CloseCode.PROTOCOL_ERROR, "")
        self.detail = f"protocol error, closed with {code}: {reason}".rstrip(": ")
        if not self._closing:
            self._closing = True
            sock.settimeout(min(1.0, self.session.settings.connection_timeout_s))
            with contextlib.suppress(OSError):
                sock.sendall(wire.close_frame(code, reason.encode()))
        sock.close()

    def _lost(self) -> None:
        self._ended(None, "", self.clock.now())

    def _ended(self, code: int | None, reason: str, at: float) -> None:
        sock, self._socket = self._socket, None
        if sock is None:
            return
        sock.close()
        self.session.closed(code, reason, at)
