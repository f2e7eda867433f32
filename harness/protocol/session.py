"""The client side of the platform's protocol as one sans-I/O state machine.

A driver (the Locust user, the probe, the tests) owns the socket and the waiting; it tells
the session what happened and when, and sends what the session puts in its outbox:

    session.connect()                   # just before the TCP connect starts
    session.opened(at) / session.connect_failed(error, at)
    session.receive(frame, at)          # every text frame, `at` taken at receipt
    session.fail(code, reason, at)      # the driver found the platform broke the protocol
    session.poll(at)                    # at or after session.next_deadline()
    session.send_chat(text)             # queued until READY, as the document's client does
    session.close(); session.closed(code, reason, at)
    for frame in session.data_to_send(): socket.send(frame)

Every phase of PROTOCOL.md is timed here and only here, from the driver's timestamps, and
reported to the injected `on_phase` sink as a PhaseSample in integer microseconds.

A frame the session cannot accept ends its connection as `protocol_error` (python-websockets'
pattern: a parser error becomes a close with a code, never an escaping exception); the
driver then sends the close frame `fail_close` names and drops the socket. Replies are
matched by id or not at all: a frame naming a message we did not send is counted, never
taken for another chat's answer.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, NamedTuple

from harness.errors import ErrorClass, error_class_for_close
from harness.policies import Backoff, CircuitBreaker, Heartbeat
from harness.protocol import messages as m
from harness.protocol.clock import Clock, micros


class State(StrEnum):
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    READY = "READY"
    DISCONNECTING = "DISCONNECTING"
    DISCONNECTED = "DISCONNECTED"
    RECONNECTING = "RECONNECTING"
    FAILED = "FAILED"


class Phase(StrEnum):
    CONNECT = "connect"
    AUTH_DELAY = "auth_delay"
    PLATFORM_INIT = "platform_init"
    READY = "ready"
    CHAT_FIRST = "chat_first"  # send -> first reply chunk: the time to first token
    CHAT_GAP = "chat_gap"  # between consecutive chunks of one reply: inter-token latency
    CHAT_COMPLETE = "chat_complete"
    HEARTBEAT = "heartbeat"
    RECONNECT = "reconnect"  # connection lost -> READY again (added by the harness)


class PhaseSample(NamedTuple):
    """One timed phase. A named tuple, not a frozen dataclass: as immutable, and made nine
    times faster (a frozen dataclass sets each of its fields through object.__setattr__),
    several times a lifecycle."""

    session_id: str
    phase: str
    start: float  # epoch seconds
    duration_us: int
    ok: bool
    error: str | None = None
    attempt: int = 0  # which connection of the session: 0 first, n the n-th reconnect
    # A completed reply (chat_complete): its chunks, and characters per second of its
    # stream after the first chunk (None for a stream of no measurable time: one chunk, or
    # chunks that arrived together)
    chunks: int | None = None
    chars_per_s: float | None = None
    # Labels that break a phase down (reports and checks: `chat_complete{step:pricing}`):
    # the step a script named for a chat (its chat phases), the session's tenant when the
    # run mixes tenants (every phase)
    step: str | None = None
    tenant: str | None = None


PhaseSink = Callable[[PhaseSample], None]


class CircuitOpen(RuntimeError):
    """connect() while the circuit breaker is open; retry at `retry_at` (monotonic s)."""

    def __init__(self, retry_at: float) -> None:
        super().__init__(f"circuit breaker open until t={retry_at:.3f}")
        self.retry_at = retry_at


class MessageTooLong(ValueError):
    pass


@dataclass(frozen=True)
class SessionSettings:
    """The document's client configuration, in seconds."""

    tenant_id: str = "miptech-company"
    auth_delay_s: float = 0.1
    connection_timeout_s: float = 10.0
    ready_timeout_s: float = 10.0
    chat_timeout_s: float = 30.0
    heartbeat_interval_s: float = 30.0
    message_queue_limit: int = 100
    max_message_length: int = 4000
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) miptech-harness"
    page_url: str = "http://localhost:3000/"
    handshake_headers: tuple[str, ...] = ()  # "Name: value" lines sent with the upgrade
    label_tenant: bool = False  # every sample names the tenant (a run that mixes tenants)
    reconnect: bool = False
    max_reconnect_attempts: int = 5
    reconnect_delay_s: float = 1.0
    max_reconnect_delay_s: float = 30.0
    reconnect_jitter: float = 0.0
    circuit_breaker_threshold: int = 3
    circuit_breaker_timeout_s: float = 60.0
    max_frame_bytes: int = 16 * 1024 * 1024  # a larger message is a protocol error (1009)
    max_json_depth: int = m.MAX_JSON_DEPTH  # a deeper frame is a protocol error (1002)


@dataclass(slots=True)
class Chat:
    """One user message and its reply as the session saw it, on its monotonic clock. A
    driver that wants the reply itself (its text, each chunk's time) passes its own Chat to
    send_chat and reads it once `ended`."""

    step: str | None = None  # labels the samples of this chat's reply
    sent_at: float = 0.0
    arrivals: list[float] = field(default_factory=list)  # each reply chunk's arrival
    parts: list[str] = field(default_factory=list)  # each reply chunk's content
    chars_after_first: int = 0
    ended_at: float | None = None  # completed, failed or cut off by our own close
    complete: bool = False  # its reply came whole
    error: str | None = None  # the error class it failed with

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


# Platform error codes that answer a chat rather than the connection.
_CHAT_ERRORS = {m.ErrorCode.NOT_READY, m.ErrorCode.MESSAGE_TOO_LONG, m.ErrorCode.RATE_LIMITED}


def violation() -> int:
    """A Counters field that counts a protocol violation the platform gets away with."""
    return field(default=0, metadata={"violation": True})


@dataclass
class Counters:
    connection_count: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    reconnect_count: int = 0
    errors: int = 0
    protocol_errors: int = 0  # frames the harness cannot accept; each ended its connection
    # Violations the platform gets away with (counted, ignored; the run record tallies them):
    stray_chunks: int = violation()  # assistant frames naming no chat in flight
    ready_before_auth: int = violation()  # `connection_ready` before our auth was sent
    ready_repeated: int = violation()  # `connection_ready` once already READY
    unknown_messages: int = 0
    dropped_messages: int = 0  # user messages dropped because the queue was full
    interrupted_chats: int = 0  # chats still in flight when we closed on purpose
    latency_sum_ms: float = 0.0
    latency_count: int = 0
    current_latency_ms: float | None = None

    def violations(self) -> dict[str, int]:
        """The counted protocol violations, by name (fields made by violation())."""
        return {name: getattr(self, name) for name in VIOLATIONS}


VIOLATIONS = tuple(f.name for f in fields(Counters) if f.metadata.get("violation"))

_RNG = random.Random()
os.register_at_fork(after_in_child=_RNG.seed)  # --processes forks: each its own sequence


def new_id() -> str:
    """A random (version 4) UUID: a session's or a message's id. From the process's seeded
    generator, not os.urandom: a system call per id was measurable in a lifecycle's cost."""
    bits = _RNG.getrandbits(128) & _UUID_RANDOM | _UUID_V4  # what uuid.UUID(version=4) sets
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"  # str(UUID), a third of the cost


_UUID_V4 = 4 << 76 | 0x8000 << 48  # the version, and the RFC 4122 variant
_UUID_RANDOM = ~(0xF000 << 64 | 0xC000 << 48)


class ClientSession:
    """One simulated browser client: the document's WebSocketManager, minus the socket."""

    # Slots: held sessions are kept by the ten thousand, and with this many attributes an
    # instance's dict took 1.6 KB of the ~19 KB a held session costs.
    __slots__ = (
        "_auth_sent_at",
        "_chats",
        "_connect_started",
        "_connections",
        "_down_since",
        "_fail_on_close",
        "_lost_at",
        "_opened_at",
        "_outbox",
        "_pings",
        "_platform_sends_done",
        "_queue",
        "_tenant_label",
        "backoff",
        "breaker",
        "clock",
        "close_code",
        "close_reason",
        "counters",
        "fail_close",
        "failure",
        "heartbeat",
        "is_ready",
        "last_connected_at",
        "on_phase",
        "ready_info",
        "reconnect_at",
        "reconnect_attempts",
        "session_id",
        "settings",
        "state",
        "total_downtime_s",
    )  # fmt: skip

    def __init__(
        self,
        settings: SessionSettings,
        clock: Clock,
        on_phase: PhaseSink | None = None,
        session_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.on_phase: PhaseSink = on_phase or (lambda sample: None)
        self.session_id = session_id or new_id()
        s = settings
        self.backoff = Backoff(
            s.reconnect_delay_s,
            s.max_reconnect_delay_s,
            s.max_reconnect_attempts,
            s.reconnect_jitter,
            rng or _RNG,
        )
        self.breaker = CircuitBreaker(s.circuit_breaker_threshold, s.circuit_breaker_timeout_s)
        self.heartbeat = Heartbeat(s.heartbeat_interval_s)
        self.state = State.DISCONNECTED
        self.is_ready = False
        self.counters = Counters()
        self.reconnect_attempts = 0
        self.reconnect_at: float | None = None
        self.failure: ErrorClass | None = None  # why the last connection failed, if it did
        self.close_code: int | None = None  # the platform's close code
        self.close_reason = ""
        # Set when the session failed the connection for a protocol error: the close frame
        # (code, reason) the driver sends before it drops the socket without waiting.
        self.fail_close: tuple[int, str] | None = None
        self.ready_info: m.ConnectionReady | None = None
        self.last_connected_at: float | None = None  # monotonic
        self.total_downtime_s = 0.0
        self._connections = 0
        self._outbox: list[str] = []
        # Lists, not deques: an empty deque takes 600 bytes, and a held session is kept for
        # hours by the ten thousand; each holds a few entries at most.
        self._queue: list[tuple[str, str, Chat]] = []  # (id, content, chat): not READY
        self._chats: dict[str, Chat] = {}
        self._pings: list[tuple[str, float]] = []  # (timestamp sent, sent_at)
        self._connect_started = 0.0
        self._opened_at: float | None = None
        self._auth_sent_at: float | None = None
        self._down_since: float | None = None
        self._fail_on_close: ErrorClass | None = None
        self._lost_at: float | None = None  # when a connection was lost, until READY again
        self._platform_sends_done = False  # its chunks carry `done`: it, not stop_typing, ends
        self._tenant_label = settings.tenant_id if settings.label_tenant else None

    # -- driver inputs ----------------------------------------------------------------------

    def connect(self, at: float | None = None) -> None:
        """Call just before opening the socket. Raises CircuitOpen while the breaker is open."""
        now = self._now(at)
        if self.state in (State.CONNECTING, State.CONNECTED, State.READY, State.DISCONNECTING):
            raise RuntimeError(f"connect() in state {self.state}")
        if not self.breaker.allows(now):
            raise CircuitOpen(self.breaker.retry_at(now))
        self._connections += 1
        self.state = State.CONNECTING
        self.failure = None
        self.close_code, self.close_reason = None, ""
        self.fail_close = None
        self._connect_started = now
        self._opened_at = self._auth_sent_at = None
        self.reconnect_at = None

    def opened(self, at: float | None = None) -> None:
        """The `101` arrived: the connection is open."""
        now = self._now(at)
        self._require(State.CONNECTING)
        self._sample(Phase.CONNECT, self._connect_started, now)
        self.state = State.CONNECTED
        self._opened_at = now
        self.counters.connection_count += 1
        self.reconnect_attempts = 0
        self.last_connected_at = now
        if self._down_since is not None:
            self.total_downtime_s += now - self._down_since
            self._down_since = None
        self.heartbeat.start(now)

    def connect_failed(self, error: ErrorClass, at: float | None = None) -> None:
        """No connection: refused, timed out, rejected handshake, TLS failure."""
        now = self._now(at)
        self._require(State.CONNECTING)
        self._sample(Phase.CONNECT, self._connect_started, now, error)
        self._lost(error, now)

    def receive(self, frame: str | bytes, at: float | None = None) -> m.ServerEvent | None:
        """A frame arrived at `at`. Returns its typed event; None if the session could not
        accept it and failed the connection (see `fail`): the driver sends `fail_close`."""
        now = self._now(at)
        c = self.counters
        c.messages_received += 1
        s = self.settings
        try:
            if len(frame) > s.max_frame_bytes:  # a driver that does not check it itself
                raise m.MalformedFrame(
                    f"message of {len(frame)} bytes > {s.max_frame_bytes}",
                    m.CloseCode.MESSAGE_TOO_BIG,
                )
            event = m.parse_server_frame(frame, s.max_json_depth)
        except m.MalformedFrame as exc:
            self.fail(exc.close_code, str(exc), now)
            return None
        if isinstance(event, m.ConnectionReady):
            self._on_ready(event, now)
        elif isinstance(event, m.AssistantChunk):
            self._on_chunk(event, now)
        elif isinstance(event, m.Typing) and not event.active:
            self._on_stop_typing(now)
        elif isinstance(event, m.Pong):
            self._on_pong(event, now)
        elif isinstance(event, m.PlatformError):
            self._on_platform_error(event, now)
        elif isinstance(event, m.UnknownMessage):
            c.unknown_messages += 1
        return event

    def fail(self, code: int, reason: str = "", at: float | None = None) -> None:
        """The platform broke the protocol (a malformed frame, a frame too big, a framing
        error): count it and lose the connection as `protocol_error`, as any other error
        (RFC 6455 7.1.7, Fail the WebSocket Connection). The driver sends a close frame with
        `fail_close` and drops the socket without waiting for the platform's close."""
        now = self._now(at)
        self.counters.protocol_errors += 1
        if self.state not in (State.CONNECTED, State.READY, State.DISCONNECTING):
            return  # no connection open: nothing to close
        # A close frame's reason has at most 123 bytes of UTF-8.
        text = reason.encode("utf-8", "replace")[:123].decode("utf-8", "ignore")
        self.fail_close = (int(code), text)
        if self.state is State.DISCONNECTING:  # closing already: it ends as our close would
            self.closed(None, "", now)
        else:
            self._lost(ErrorClass.PROTOCOL_ERROR, now)

    def poll(self, at: float | None = None) -> None:
        """Act on every deadline that has passed: auth, timeouts, heartbeats."""
        now = self._now(at)
        s = self.settings
        if self.state is State.CONNECTING and now >= self._connect_started + s.connection_timeout_s:
            self.connect_failed(ErrorClass.CONNECT_TIMEOUT, now)
            return
        if self.state not in (State.CONNECTED, State.READY):
            return
        if self._auth_sent_at is None and now >= self._auth_due():
            self._send_auth(now)
        if self._awaiting_ready() and now >= self._ready_deadline():
            self._sample(Phase.READY, self._connect_started, now, ErrorClass.READY_TIMEOUT)
            self.breaker.record_failure(now)
            self._fail_on_close = ErrorClass.READY_TIMEOUT
            self.close(now)
            return
        for message_id, chat in list(self._chats.items()):
            if now >= chat.sent_at + s.chat_timeout_s:
                del self._chats[message_id]
                self._chat_failed(chat, ErrorClass.CHAT_TIMEOUT, now)
        if self.heartbeat.due(now):
            self.send_ping(now)

    def next_deadline(self) -> float | None:
        """The monotonic time of the next poll() with something to do, if any."""
        s = self.settings
        if self.state is State.CONNECTING:
            return self._connect_started + s.connection_timeout_s
        if self.state is State.RECONNECTING:
            return self.reconnect_at
        if self.state not in (State.CONNECTED, State.READY):
            return None
        times = [chat.sent_at + s.chat_timeout_s for chat in self._chats.values()]
        if self._auth_sent_at is None:
            times.append(self._auth_due())
        elif self._awaiting_ready():
            times.append(self._ready_deadline())
        if self.heartbeat.next_due is not None:
            times.append(self.heartbeat.next_due)
        return min(times)

    def send_chat(
        self,
        content: str,
        message_id: str | None = None,
        at: float | None = None,
        chat: Chat | None = None,
    ) -> str | None:
        """Send a user message now if READY, else queue it. Returns its id, None if dropped.
        `chat`: the driver's record of it (its step, its reply as it comes)."""
        if len(content) > self.settings.max_message_length:
            raise MessageTooLong(f"{len(content)} characters > {self.settings.max_message_length}")
        message_id = message_id or new_id()
        chat = chat or Chat()
        if self.state is State.READY:
            self._send_chat(message_id, content, self._now(at), chat)
        elif len(self._queue) < self.settings.message_queue_limit:
            self._queue.append((message_id, content, chat))
        else:
            self.counters.dropped_messages += 1
            return None
        return message_id

    def send_typing(self, active: bool = True) -> None:
        """The user is typing (or stopped): `typing` / `stop_typing`, sent at once."""
        kind = m.MessageType.TYPING if active else m.MessageType.STOP_TYPING
        self._send(m.client_frame(kind, {"session_id": self.session_id}))

    def send_ping(self, at: float | None = None) -> None:
        now = self._now(at)
        epoch = self.clock.to_epoch(now)
        self._pings.append((m.iso_timestamp(epoch), now))
        self._send(m.ping_frame(epoch))
        self.heartbeat.sent(now)

    def close(self, at: float | None = None) -> None:
        """We are closing on purpose; the driver sends the close frame."""
        if self.state in (State.CONNECTING, State.CONNECTED, State.READY):
            self.state = State.DISCONNECTING
            self.heartbeat.stop()
        elif self.state is State.RECONNECTING:
            self.state = State.DISCONNECTED
            self.reconnect_at = None

    def closed(self, code: int | None, reason: str = "", at: float | None = None) -> None:
        """The connection is gone, with the peer's close code (None if no close frame)."""
        now = self._now(at)
        self.close_code, self.close_reason = code, reason
        if self.state is State.CONNECTING:
            self.connect_failed(error_class_for_close(code) or ErrorClass.DROPPED, now)
            return
        if self.state not in (State.CONNECTED, State.READY, State.DISCONNECTING):
            return
        error = self._fail_on_close
        if self.state is not State.DISCONNECTING:
            error = error_class_for_close(code)
            if error is None and (self._ready_pending() or self._chats):
                error = ErrorClass.DROPPED  # a normal closure that cut something short
        if error is None:
            self.counters.interrupted_chats += len(self._chats)
            self._reset_connection(now)
            self.state = State.DISCONNECTED
        else:
            self._lost(error, now)

    def data_to_send(self) -> list[str]:
        """Frames to send now, in order; the outbox is emptied."""
        out, self._outbox = self._outbox, []
        return out

    @property
    def chats_in_flight(self) -> int:
        return len(self._chats)

    @property
    def pings_in_flight(self) -> int:
        return len(self._pings)

    # -- the document's getMetrics(), getStatus(), isConnectionReady() ----------------------

    def is_connection_ready(self) -> bool:
        return self.state is State.READY and self.is_ready

    def metrics(self, at: float | None = None) -> dict[str, Any]:
        now = self._now(at)
        c = self.counters
        connected = self.state in (State.CONNECTED, State.READY)
        downtime = self.total_downtime_s + (now - self._down_since if self._down_since else 0.0)
        return {
            "connectionCount": c.connection_count,
            "messagesSent": c.messages_sent,
            "messagesReceived": c.messages_received,
            "reconnectCount": c.reconnect_count,
            "errors": c.errors,
            "averageLatency": round(c.latency_sum_ms / c.latency_count, 3)
            if c.latency_count
            else None,
            "lastConnectedAt": round(self.clock.to_epoch(self.last_connected_at) * 1000)
            if self.last_connected_at is not None
            else None,
            "totalDowntime": round(downtime * 1000),
            "currentLatency": c.current_latency_ms,
            "circuitBreakerState": str(self.breaker.state(now)),
            "connectionState": str(self.state),
            "reconnectAttempts": self.reconnect_attempts,
            "queuedMessages": len(self._queue),
            "uptime": round((now - self.last_connected_at) * 1000)
            if connected and self.last_connected_at is not None
            else 0,
        }

    def status(self) -> dict[str, Any]:
        # The browser's WebSocket.readyState: 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED.
        ready_state = {State.CONNECTING: 0, State.CONNECTED: 1, State.READY: 1}
        closing = 2 if self.state is State.DISCONNECTING else 3
        return {
            "isConnected": self.state in (State.CONNECTED, State.READY),
            "readyState": ready_state.get(self.state, closing),
            "reconnectAttempts": self.reconnect_attempts,
            "sessionId": self.session_id,
            "tenantId": self.settings.tenant_id,
        }

    # -- internals --------------------------------------------------------------------------

    def _now(self, at: float | None) -> float:
        return self.clock.now() if at is None else at

    def _require(self, state: State) -> None:
        if self.state is not state:
            raise RuntimeError(f"expected state {state}, session is {self.state}")

    def _sample(
        self,
        phase: str,
        start: float,
        end: float,
        error: ErrorClass | None = None,
        chunks: int | None = None,
        rate: float | None = None,
        step: str | None = None,
    ) -> None:
        self.on_phase(
            PhaseSample(
                self.session_id,
                str(phase),
                self.clock.to_epoch(start),
                micros(end - start),
                error is None,
                None if error is None else str(error),
                self._connections - 1,
                chunks,
                rate,
                step,
                self._tenant_label,
            )
        )

    def _send(self, frame: str) -> None:
        self._outbox.append(frame)
        self.counters.messages_sent += 1

    def _auth_due(self) -> float:
        assert self._opened_at is not None
        return self._opened_at + self.settings.auth_delay_s

    def _ready_pending(self) -> bool:
        return self.state is State.CONNECTED and not self.is_ready

    def _awaiting_ready(self) -> bool:
        return self._ready_pending() and self._auth_sent_at is not None

    def _ready_deadline(self) -> float:
        """The document's 10 s timer starts when auth is sent."""
        assert self._auth_sent_at is not None
        return self._auth_sent_at + self.settings.ready_timeout_s

    def _send_auth(self, now: float) -> None:
        assert self._opened_at is not None
        s = self.settings
        self._send(
            m.auth_frame(
                s.tenant_id, self.session_id, s.user_agent, s.page_url, self.clock.to_epoch(now)
            )
        )
        self._auth_sent_at = now
        self._sample(Phase.AUTH_DELAY, self._opened_at, now)

    def _send_chat(self, message_id: str, content: str, now: float, chat: Chat) -> None:
        self._send(m.chat_frame(content, message_id, self.session_id, self.clock.to_epoch(now)))
        chat.sent_at = now
        self._chats[message_id] = chat

    def _on_ready(self, event: m.ConnectionReady, now: float) -> None:
        if self.state is State.READY:
            self.counters.ready_repeated += 1
            return
        if not self._ready_pending():
            return  # closing or closed: too late
        if self._auth_sent_at is None or now < self._auth_sent_at:
            # Not an answer to our auth (read after it went, under lag, but it had arrived
            # before): still wait.
            self.counters.ready_before_auth += 1
            return
        self.is_ready = True
        self.state = State.READY
        self.ready_info = event
        self._sample(Phase.PLATFORM_INIT, self._auth_sent_at, now)
        self._sample(Phase.READY, self._connect_started, now)
        if self._lost_at is not None:
            self._sample(Phase.RECONNECT, self._lost_at, now)
            self._lost_at = None
        self.breaker.record_success()
        while self._queue:  # sent now: the ready frame may have waited to be read
            message_id, content, chat = self._queue.pop(0)
            self._send_chat(message_id, content, self.clock.now(), chat)

    def _on_chunk(self, event: m.AssistantChunk, now: float) -> None:
        """Only a chunk naming a chat in flight counts for it: one with an unknown or no
        `in_reply_to` is stray, and never starts or completes another chat."""
        if event.done is not None:
            self._platform_sends_done = True
        message_id = event.in_reply_to
        chat = self._chats.get(message_id) if message_id is not None else None
        if chat is None or message_id is None:
            # (One that names the chat but came before it went is the harness's clock: it is
            # left as the negative duration that says so.)
            self.counters.stray_chunks += 1
            return
        arrivals = chat.arrivals
        if not arrivals:
            self._sample(Phase.CHAT_FIRST, chat.sent_at, now, step=chat.step)
        else:
            self._sample(Phase.CHAT_GAP, arrivals[-1], now, step=chat.step)
            chat.chars_after_first += len(event.content)
        arrivals.append(now)
        chat.parts.append(event.content)
        if event.done:
            self._finish_chat(message_id, now)

    def _on_stop_typing(self, now: float) -> None:
        """A platform whose chunks carry no `done` completes a reply at `stop_typing`, which
        names no chat: so only such a platform, only when exactly one chat is in flight and
        its reply has begun. (A platform that sends `done` completes on it, whatever typing
        indicators come in between.)"""
        if self._platform_sends_done or len(self._chats) != 1:
            return
        message_id, chat = next(iter(self._chats.items()))
        if chat.arrivals:
            self._finish_chat(message_id, now)

    def _finish_chat(self, message_id: str, now: float) -> None:
        chat = self._chats.pop(message_id)
        arrivals = chat.arrivals
        stream_s = arrivals[-1] - arrivals[0] if arrivals else 0.0
        rate = round(chat.chars_after_first / stream_s, 1) if stream_s > 0 else None
        chat.ended_at, chat.complete = now, True
        self._sample(
            Phase.CHAT_COMPLETE,
            chat.sent_at,
            now,
            chunks=len(arrivals),
            rate=rate,
            step=chat.step,
        )

    def _chat_failed(self, chat: Chat, error: ErrorClass, now: float) -> None:
        chat.ended_at, chat.error = now, str(error)
        self._sample(Phase.CHAT_COMPLETE, chat.sent_at, now, error, step=chat.step)

    def _on_pong(self, event: m.Pong, now: float) -> None:
        match = next((p for p in self._pings if p[0] == event.timestamp), None)
        if match is None:  # the oldest sent before it came (one that came first answers none)
            match = next((p for p in self._pings if p[1] <= now), None)
        if match is None:
            return
        self._pings.remove(match)
        self._sample(Phase.HEARTBEAT, match[1], now)
        c = self.counters
        c.current_latency_ms = round((now - match[1]) * 1000, 3)
        c.latency_sum_ms += c.current_latency_ms
        c.latency_count += 1

    def _on_platform_error(self, event: m.PlatformError, now: float) -> None:
        """An error fails the chat it names; one that names none fails a chat only if its
        code answers chats and exactly one is in flight. Otherwise it is counted only."""
        self.counters.errors += 1
        message_id = event.in_reply_to
        if message_id is None and event.code in _CHAT_ERRORS and len(self._chats) == 1:
            only = next(iter(self._chats))
            if now >= self._chats[only].sent_at:  # (one that came before it answers none)
                message_id = only
        chat = self._chats.pop(message_id, None) if message_id is not None else None
        if chat is not None:
            self._chat_failed(chat, ErrorClass.REJECTED, now)

    def _reset_connection(self, now: float) -> None:
        self.is_ready = False
        self.heartbeat.stop()
        for chat in self._chats.values():  # cut off by our own close (the rest failed)
            chat.ended_at = now
        self._chats.clear()
        self._pings.clear()
        self._fail_on_close = None
        self._down_since = now

    def _lost(self, error: ErrorClass, now: float) -> None:
        """The connection failed or dropped: fail what was in flight, then reconnect or fail."""
        was_connecting = self.state is State.CONNECTING
        if self._ready_pending():
            self._sample(Phase.READY, self._connect_started, now, error)
            self.breaker.record_failure(now)
        elif was_connecting:
            self.breaker.record_failure(now)
        # What was sent after the failure arrived (it was read late) failed when it was sent.
        for chat in self._chats.values():
            self._chat_failed(chat, error, max(now, chat.sent_at))
        for _, sent_at in self._pings:
            self._sample(Phase.HEARTBEAT, sent_at, max(now, sent_at), error)
        self.counters.errors += 1
        self._reset_connection(now)
        self.failure = error
        if self.settings.reconnect and self.backoff.allows(self.reconnect_attempts):
            if self._lost_at is None:
                self._lost_at = now
            delay = self.backoff.delay(self.reconnect_attempts)
            self.reconnect_at = max(now + delay, self.breaker.retry_at(now))
            self.reconnect_attempts += 1
            self.counters.reconnect_count += 1
            self.state = State.RECONNECTING
        else:
            self.state = State.FAILED
            self._lost_at = None
