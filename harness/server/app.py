"""The reference platform: PROTOCOL.md over real sockets, on python-websockets' asyncio server.

`PlatformSession` (the rule book) decides what to answer; this module does the I/O and the
timing profile decides when. Admin requests: `/_harness/stats` (this process's counters as
JSON) and `/_harness/drop` (close every open session with 1001, as a platform restart would:
the reconnect-storm trigger; SIGUSR1 does the same). They must be a POST carrying this start's
admin token in `X-Harness-Token`; anything a browser sends (an `Origin` or a `Sec-Fetch-Site`
header) is refused, and no CORS header is ever sent, so a web page cannot reach them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import random
import signal
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from harness import kerneltime
from harness.collector import CollectorOffTheClock
from harness.embedded import ADMIN_TOKEN_HEADER
from harness.protocol.clock import Clock, MonotonicClock
from harness.protocol.messages import ENDPOINT
from harness.protocol.platform import (
    Action,
    Close,
    PlatformRules,
    PlatformSession,
    Reply,
    Send,
    StartInit,
)
from harness.server.groundtruth import GroundTruthLog
from harness.server.profiles import PROFILES, Fate, Profile

GOING_AWAY = 1001
INTERNAL_ERROR = 1011
ADMIN_PATHS = ("/_harness/stats", "/_harness/drop")


@dataclass
class ServerConfig:
    host: str = "localhost"
    port: int = 8000
    profile: Profile = field(default_factory=lambda: PROFILES["documented"])
    rules: PlatformRules = field(default_factory=PlatformRules)
    endpoints: tuple[str, ...] = (ENDPOINT,)
    ground_truth_dir: Path | None = None
    seed: int | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    workers: int = 1
    reuse_port: bool = False
    worker_index: int = 0
    supervised: bool = False  # a worker of `--workers N`: admin drop goes via the parent
    admin_token: str = ""  # the admin endpoints' token; none: they refuse every request

    @property
    def scheme(self) -> str:
        return "wss" if self.certfile else "ws"


class KernelStampedReads:
    """Stands in for the socket of asyncio's own (selector) transport: its reads are
    `recvmsg` calls that keep when the kernel received the bytes (harness/kerneltime.py).

    uvloop's transports read inside libuv and drop that, so a platform whose ground truth
    should not include its own event loop's delay runs on asyncio's loop (see workers.py).
    This relies on the selector transport reading with `self._sock.recv` (CPython 3.11-3.13);
    `install` returns None, and the loop's time is used, anywhere else (uvloop, TLS)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.arrived: float | None = None

    @classmethod
    def install(cls, transport: asyncio.BaseTransport) -> KernelStampedReads | None:
        sock = getattr(transport, "_sock", None)
        if type(sock) is not socket.socket or not kerneltime.enable(sock):
            return None
        reads = cls(sock)
        transport._sock = reads  # type: ignore[attr-defined]
        return reads

    def recv(self, size: int) -> bytes:
        data, self.arrived = kerneltime.recv(self._sock, size, time.perf_counter)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class TimedConnection(ServerConnection):
    """Remembers when bytes last reached this connection, so the ground truth does not
    include the wait for the handler to be resumed: the event loop's I/O callback, or,
    with `kernel_stamps` on asyncio's own loop, the moment the kernel received them."""

    kernel_stamps = False
    received_at = 0.0
    _reads: KernelStampedReads | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.kernel_stamps:
            self._reads = KernelStampedReads.install(transport)
        super().connection_made(transport)

    @property
    def stamp_source(self) -> str:
        return "kernel" if self._reads is not None else "loop"

    def data_received(self, data: bytes) -> None:
        arrived = self._reads.arrived if self._reads is not None else None
        self.received_at = arrived or time.perf_counter()
        super().data_received(data)


class KernelTimedConnection(TimedConnection):
    kernel_stamps = True


class ReferencePlatform:
    def __init__(self, config: ServerConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or MonotonicClock()
        self.rng = random.Random(config.seed)
        self.stats: Counter[str] = Counter()
        self.connections: set[ServerConnection] = set()
        self._closing: set[asyncio.Future[None]] = set()
        self.collector = CollectorOffTheClock()  # full collections only while idle
        self._idle_collection: asyncio.TimerHandle | None = None
        truth_file = None
        if config.ground_truth_dir is not None:
            truth_file = config.ground_truth_dir / (
                f"platform-w{config.worker_index}-{os.getpid()}.jsonl"
            )
        self.truth = GroundTruthLog(truth_file, self.clock)

    # -- HTTP side: endpoints and admin ------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path in ADMIN_PATHS:
            refused = self._refuse_admin(connection, request)
            if refused is not None:
                self.stats["admin_refused"] += 1
                return refused
        if path == "/_harness/stats":
            pause_ms = self.collector.pauses.get_max_value() / 1000
            body = dict(
                self.stats,
                open=len(self.connections),
                pid=os.getpid(),
                gc_pause_max_ms=round(pause_ms, 3),
            )
            return connection.respond(HTTPStatus.OK, json.dumps(body) + "\n")
        if path == "/_harness/drop":
            if self.config.supervised:
                os.kill(os.getppid(), signal.SIGUSR1)  # the parent tells every worker
            else:
                self.drop_all()
            return connection.respond(HTTPStatus.OK, "dropping every session\n")
        if path not in self.config.endpoints:
            self.stats["not_found"] += 1
            return connection.respond(HTTPStatus.NOT_FOUND, f"no WebSocket endpoint at {path}\n")
        return None

    def _refuse_admin(self, connection: ServerConnection, request: Request) -> Response | None:
        """The answer to an admin request that may not run: None when it may."""
        if request.method != "POST":
            response = connection.respond(
                HTTPStatus.METHOD_NOT_ALLOWED, "admin requests are POST\n"
            )
            response.headers["Allow"] = "POST"
            return response
        headers = request.headers
        # A browser names the page's origin (and fetch metadata) on every cross-origin POST,
        # even one a CORS preflight never approved; the tooling this serves sends neither.
        fetch_sites = [site.strip().lower() for site in headers.get_all("Sec-Fetch-Site")]
        if "Origin" in headers or any(site != "none" for site in fetch_sites):
            return connection.respond(HTTPStatus.FORBIDDEN, "no admin requests from web pages\n")
        given = headers.get_all(ADMIN_TOKEN_HEADER)
        token = self.config.admin_token
        if (
            not token
            or len(given) != 1
            or not hmac.compare_digest(given[0].encode(), token.encode())
        ):
            return connection.respond(
                HTTPStatus.FORBIDDEN, f"admin token missing or wrong ({ADMIN_TOKEN_HEADER})\n"
            )
        return None

    def drop_all(self, code: int = GOING_AWAY) -> None:
        """Close every open session at once, as a platform restart would."""
        self.stats["dropped"] += len(self.connections)
        for ws in list(self.connections):
            task = asyncio.ensure_future(ws.close(code, "platform restarting"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    # -- WebSocket side ----------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = {k: v[0] for k, v in parse_qs(urlsplit(ws.request.path).query).items()}
        session = PlatformSession(self.config.rules, self.clock.now())
        sid = query.get("session_id")
        self.truth.record(sid, "open", session.opened_at)
        self.stats["connections"] += 1
        self.connections.add(ws)
        tasks: set[asyncio.Task[None]] = set()
        try:
            if not await self._perform(ws, session, session.open(query), tasks):
                return
            while True:
                deadline = session.auth_deadline
                try:
                    if deadline is None:
                        frame = await ws.recv()
                    else:
                        async with asyncio.timeout(max(0.0, deadline - self.clock.now())):
                            frame = await ws.recv()
                except TimeoutError:
                    self.stats["auth_timeouts"] += 1
                    await self._perform(ws, session, session.auth_timed_out(), tasks)
                    return
                received_at = ws.received_at if isinstance(ws, TimedConnection) else 0.0
                actions = session.receive(frame, received_at or self.clock.now())
                if not await self._perform(ws, session, actions, tasks):
                    return
        except ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()
            self.connections.discard(ws)
            self.truth.record(sid, "close", self.clock.now())
            if not self.connections:
                self._collect_when_idle()

    async def _perform(
        self,
        ws: ServerConnection,
        session: PlatformSession,
        actions: list[Action],
        tasks: set[asyncio.Task[None]],
    ) -> bool:
        """Carry out the rule book's answer; False once the connection is being closed."""
        for action in actions:
            if isinstance(action, Send):
                await ws.send(action.frame)
            elif isinstance(action, Close):
                self.stats[f"closed_{action.code}"] += 1
                await ws.close(action.code, action.reason)
                return False
            elif isinstance(action, StartInit):
                source = ws.stamp_source if isinstance(ws, TimedConnection) else "loop"
                self.truth.record(session.session_id, "auth", session.auth_at or 0.0, stamp=source)
                fate, delay = self.config.profile.draw_init(self.rng)
                if delay > 0 or fate is Fate.NEVER_READY:
                    self._later(tasks, delay, self._finish_init(ws, session, fate))
                else:  # no task per session when nothing is to wait for (profile fast)
                    await self._finish_init(ws, session, fate)
            elif isinstance(action, Reply):
                self.truth.record(session.session_id, "chat", self.clock.now(), action.message_id)
                p = self.config.profile
                if p.chat_first_ms or p.chat_chunk_gap_ms:
                    self._later(tasks, 0.0, self._stream_reply(ws, session, action))
                else:
                    await self._stream_reply(ws, session, action)
        return True

    def _later(
        self, tasks: set[asyncio.Task[None]], delay: float, work: Coroutine[Any, Any, None]
    ) -> None:
        async def run() -> None:
            try:
                if delay > 0:
                    await asyncio.sleep(delay)
                with contextlib.suppress(ConnectionClosed):
                    await work
            finally:
                work.close()  # never awaited when cancelled during the delay

        task = asyncio.ensure_future(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _finish_init(
        self, ws: ServerConnection, session: PlatformSession, fate: Fate
    ) -> None:
        if fate is Fate.NEVER_READY:
            self.stats["never_ready"] += 1
        elif fate is Fate.SERVER_ERROR:
            self.stats[f"closed_{INTERNAL_ERROR}"] += 1
            await ws.close(INTERNAL_ERROR, "platform initialisation failed")
        else:
            now = self.clock.now()
            await ws.send(session.ready(now))
            self.truth.record(session.session_id, "ready", now)  # after the send: not in it
            self.stats["ready"] += 1

    async def _stream_reply(
        self, ws: ServerConnection, session: PlatformSession, chat: Reply
    ) -> None:
        p = self.config.profile
        typing, *rest = session.reply_frames(chat.message_id, chat.content, p.chat_chunks)
        chunks, ending = rest[: p.chat_chunks], rest[p.chat_chunks :]  # ending: stop_typing
        await ws.send(typing)
        for i, chunk in enumerate(chunks):
            wait = p.chat_first_ms / 1000 if i == 0 else p.draw_gap(self.rng)
            if wait:
                await asyncio.sleep(wait)
            if i == len(chunks) - 1:
                self.truth.record(
                    session.session_id, "reply_done", self.clock.now(), chat.message_id
                )
            await ws.send(chunk)
        for frame in ending:
            await ws.send(frame)
        self.stats["replies"] += 1

    # -- running -----------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.config.certfile is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.config.certfile, self.config.keyfile)
        return context

    async def run(self, on_listening: Callable[[str], None] | None = None) -> None:
        """Serve until SIGTERM or SIGINT; SIGUSR1 drops every session."""
        c = self.config
        loop = asyncio.get_running_loop()
        stop: asyncio.Future[None] = loop.create_future()

        def request_stop() -> None:
            if not stop.done():
                stop.set_result(None)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, request_stop)
        loop.add_signal_handler(signal.SIGUSR1, self.drop_all)
        server: Server
        async with serve(
            self.handler,
            c.host,
            c.port,
            process_request=self.process_request,
            create_connection=KernelTimedConnection if self.truth.enabled else TimedConnection,
            compression=None,
            ping_interval=None,
            ssl=self.ssl_context(),
            reuse_port=c.reuse_port or None,
            backlog=4096,
            close_timeout=2,
        ) as server:
            port = server.sockets[0].getsockname()[1]
            if on_listening is not None:
                on_listening(f"{c.scheme}://{c.host}:{port}{ENDPOINT}")
            flusher = asyncio.ensure_future(self._flush_ground_truth())
            self.collector.start()
            await stop
            flusher.cancel()
            self.stats["shutdown"] += 1
        self.truth.close()

    def _collect_when_idle(self, after_s: float = 1.0) -> None:
        """A full garbage collection once no session has been open for `after_s`: between
        load runs, never under one (a connection that ended abruptly leaves a cycle)."""
        if self._idle_collection is None:
            loop = asyncio.get_running_loop()
            self._idle_collection = loop.call_later(after_s, self._collect_if_idle)

    def _collect_if_idle(self) -> None:
        self._idle_collection = None
        if not self.connections:
            self.stats["gc_idle_freed"] += self.collector.collect()
            self.stats["gc_idle_collections"] += 1

    async def _flush_ground_truth(self) -> None:
        """Once a second, so a platform that is killed still leaves its record."""
        while self.truth.enabled:
            await asyncio.sleep(1.0)
            self.truth.flush()


def quiet_library_logs(debug: bool = False) -> None:
    """websockets logs every aborted handshake; a load run makes many on purpose."""
    logging.getLogger("websockets").setLevel(logging.DEBUG if debug else logging.CRITICAL)
