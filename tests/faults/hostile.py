"""A hostile WebSocket platform for tests: RFC 6455 by hand on asyncio streams, so that it
can misbehave in exactly one way per `mode` and follows PROTOCOL.md otherwise (ready
`ready_delay` after auth; chats answered typing -> 2 chunks with in_reply_to, `done` on the
last -> stop_typing; pong for ping; close echoed).

    with hostile_server("deep_json") as url: ...     # url: ws://127.0.0.1:PORT
    with HostileServer("no_ready") as server: ...    # server.url, server.events
    python -m tests.faults.hostile MODE [--port P]   # first line: listening on ws://...

Modes: correct; non_json, deep_json (100,000 nested arrays), just_too_deep (65 levels, one
past the default limit), huge_number (400-digit ready_duration), invalid_utf8: the ready
frame so; json_only: a lawful ready that only json reads (a lone surrogate escape: orjson
refuses it); over_limit: a frame announced as
max_frame_bytes + 1 (1 KiB of it comes, then nothing); stray_chunks: chats answered for random
ids, never completed; stray_then_real: so, then the true reply after reply_delay; ready_twice
(10 ms apart); ready_before_auth: one on open, a proper one 100 ms after auth; trickle_101:
the 101 a byte every trickle_gap (1 s); bad_accept: a wrong Sec-WebSocket-Accept;
one_byte_segments: correct, each byte (101 included) its own TCP segment; abrupt_close: TCP
closed, no close frame, right after ready; no_ready: auth never answered; bad_after_ready:
a proper ready, then 100,000 nested arrays 0.1 s later.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

ENDPOINT = "/api/v1/ws/chat"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MODES = (
    "correct", "non_json", "deep_json", "just_too_deep", "huge_number", "invalid_utf8",
    "json_only", "over_limit",
    "stray_chunks", "stray_then_real", "ready_twice", "ready_before_auth", "trickle_101",
    "bad_accept", "one_byte_segments", "abrupt_close", "no_ready", "bad_after_ready",
)  # fmt: skip
# The ready frame each malformed mode sends instead of a proper one.
BAD_READY = {
    "non_json": b"connection_ready, honestly",
    "deep_json": b"[" * 100_000 + b"]" * 100_000,
    "huge_number": b'{"type":"connection_ready","data":{"ready_duration":' + b"9" * 400 + b"}}",
    "invalid_utf8": b'{"type":"connection_ready","data":{"client_id":"\xff\xfe"}}',
    "just_too_deep": b'{"type":"connection_ready","data":{"x":' + b"[" * 63 + b"]" * 63 + b"}}",
}
# json_only's ready: lawful JSON that orjson refuses (a lone surrogate escape); json reads it.
JSON_ONLY_READY = b'{"type":"connection_ready","data":{"client_id":"c\\ud800"}}'


@dataclass
class Options:
    ready_delay: float | None = None  # after auth; default 0.05 s (0.1 s: ready_before_auth)
    chunk_gap: float = 0.01  # before each assistant chunk
    reply_delay: float = 0.2  # stray_then_real: the true reply, after the chat arrived
    max_frame_bytes: int = 1024  # over_limit announces one byte more
    segment_gap: float = 0.0005  # one_byte_segments: the pause between segments
    trickle_gap: float = 1.0  # trickle_101: the pause between the bytes of the 101
    echo_close: bool = True  # False: a client's close frame is never answered


def frame(opcode: int, payload: bytes, announce: int | None = None) -> bytes:
    """One final, unmasked frame; `announce`: the length its header claims instead."""
    n = len(payload) if announce is None else announce
    if n < 126:
        return struct.pack("!BB", 0x80 | opcode, n) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def message(kind: str, **data: object) -> bytes:
    return frame(1, json.dumps({"type": kind, "data": data}).encode())


class Peer:
    """One client connection."""

    def __init__(
        self, server: HostileServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server, self.mode, self.opts = server, server.mode, server.options
        self.reader, self.writer = reader, writer
        self.lock = asyncio.Lock()  # one frame at a time, even written byte by byte
        self.tasks: set[asyncio.Task[None]] = set()

    async def send(self, data: bytes, gap: float = 0.0) -> None:
        """Write `data`; with a `gap`, one byte per TCP segment (TCP_NODELAY is on)."""
        gap = gap or (self.opts.segment_gap if self.mode == "one_byte_segments" else 0.0)
        async with self.lock:
            if not gap:
                self.writer.write(data)
                await self.writer.drain()
                return
            for at in range(len(data)):
                if at:
                    await asyncio.sleep(gap)
                if self.reader.at_eof():
                    return  # the client gave up
                self.writer.write(data[at : at + 1])
                await self.writer.drain()

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        request = await self.reader.readuntil(b"\r\n\r\n")
        lines = request.decode("latin-1").split("\r\n")[1:]
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
        key = headers.get("sec-websocket-key", "") + GUID
        if self.mode == "bad_accept":
            key = "not the key" + GUID
        accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
        response = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
        await self.send(response, self.opts.trickle_gap if self.mode == "trickle_101" else 0.0)
        self.server.log("open")
        if self.mode == "ready_before_auth":
            await self.send(message("connection_ready", client_id="early", ready_duration=0.0))
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.server.log("close", code)
                if not self.opts.echo_close:
                    continue  # the client waits for an answer that never comes
                with contextlib.suppress(ConnectionError):
                    await self.send(frame(8, payload[:2]))
                return
            if opcode == 9:
                await self.send(frame(10, payload))
            if opcode != 1:
                continue
            msg = json.loads(payload)
            kind, data = msg["type"], msg.get("data", {})
            self.server.log(kind)
            if kind == "auth" and self.mode != "no_ready":
                self.later(self.ready())
            elif kind == "chat_message":
                self.later(self.reply(str(data.get("message_id"))))
            elif kind == "ping":
                await self.send(message("pong", timestamp=data.get("timestamp")))

    async def read_frame(self) -> tuple[int, bytes]:
        first, second = await self.reader.readexactly(2)
        n = second & 0x7F
        if n >= 126:
            n = int.from_bytes(await self.reader.readexactly(2 if n == 126 else 8), "big")
        mask = await self.reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        data = await self.reader.readexactly(n)
        key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
        return first & 0x0F, (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")

    async def ready(self) -> None:
        default = 0.1 if self.mode == "ready_before_auth" else 0.05
        await asyncio.sleep(default if self.opts.ready_delay is None else self.opts.ready_delay)
        ready = message("connection_ready", client_id="c1", tenant_id="t", ready_duration=0.05)
        if self.mode in BAD_READY:
            ready = frame(1, BAD_READY[self.mode])
        elif self.mode == "json_only":
            ready = frame(1, JSON_ONLY_READY)
        elif self.mode == "over_limit":  # the header says too big; 1 KiB of it, then nothing
            ready = frame(1, b"x" * 1024, announce=self.opts.max_frame_bytes + 1)
        await self.send(ready)
        self.server.log("ready_sent")
        if self.mode == "ready_twice":
            await asyncio.sleep(0.01)
            await self.send(message("connection_ready", client_id="c1", ready_duration=0.06))
        elif self.mode == "abrupt_close":
            self.writer.close()
        elif self.mode == "bad_after_ready":  # a frame we cannot accept, 0.1 s into READY
            await asyncio.sleep(0.1)
            await self.send(frame(1, BAD_READY["deep_json"]))

    async def reply(self, message_id: str) -> None:
        stray = str(uuid.uuid4())
        answers = {"stray_chunks": [stray], "stray_then_real": [stray, message_id]}
        for i, reply_to in enumerate(answers.get(self.mode, [message_id])):
            await asyncio.sleep(self.opts.reply_delay if i else 0.0)
            await self.send(message("typing"))
            for done in (False, True):
                await asyncio.sleep(self.opts.chunk_gap)
                part = "the last part" if done else "a first part"
                chunk = {"role": "assistant", "content": part, "in_reply_to": reply_to}
                await self.send(message("chat_message", **chunk, done=done))
            await self.send(message("stop_typing"))


class HostileServer:
    """The server on 127.0.0.1 (port 0: any free one), in a thread of this process when
    used as a context manager. `events`: (what, time.perf_counter(), detail) as seen here."""

    def __init__(self, mode: str, port: int = 0, **options: Any) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        self.mode, self.port, self.options = mode, port, Options(**options)
        self.url = ""
        self.events: list[tuple[str, float, object]] = []
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def log(self, what: str, detail: object = None) -> None:
        self.events.append((what, time.perf_counter(), detail))

    def seen(self, what: str, timeout: float = 2.0) -> tuple[float, object]:
        """(time, detail) of the first `what` event, waiting up to `timeout` for it."""
        end = time.perf_counter() + timeout
        while True:
            found = [(t, detail) for kind, t, detail in list(self.events) if kind == what]
            if found or time.perf_counter() > end:
                return found[0] if found else (float("nan"), None)
            time.sleep(0.005)

    async def serve(self, on_listening: Any = None) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = Peer(self, reader, writer)
            try:
                await peer.run()
            # The client went away (as hostile platforms make clients do), sent what the
            # harness does not, or the server stops (a handler that ends cancelled makes
            # asyncio 3.11's streams log an error).
            except (ConnectionError, EOFError, ValueError, KeyError, asyncio.CancelledError):
                pass
            finally:
                for task in peer.tasks:
                    task.cancel()
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", self.port, backlog=1024)
        async with server:
            self.port = server.sockets[0].getsockname()[1]
            self.url = f"ws://127.0.0.1:{self.port}"
            if on_listening is not None:
                on_listening(self.url)
            self._started.set()
            await self._stop.wait()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

    def __enter__(self) -> HostileServer:
        self._thread = threading.Thread(target=asyncio.run, args=(self.serve(),), daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the hostile server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)


@contextlib.contextmanager
def hostile_server(mode: str, **options: Any) -> Iterator[str]:
    """ws://127.0.0.1:PORT of a hostile server running `mode` until the block ends."""
    with HostileServer(mode, **options) as server:
        yield server.url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.hostile", description=__doc__)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--port", type=int, default=0, help="default: any free port")
    parser.add_argument("--ready-delay-ms", type=float, help="connection_ready after auth")
    parser.add_argument("--max-frame-bytes", type=int, default=1024, help="for over_limit")
    args = parser.parse_args(argv)
    delay = None if args.ready_delay_ms is None else args.ready_delay_ms / 1000
    server = HostileServer(
        args.mode, args.port, ready_delay=delay, max_frame_bytes=args.max_frame_bytes
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(lambda url: print(f"listening on {url}{ENDPOINT}", flush=True)))


if __name__ == "__main__":
    main()
