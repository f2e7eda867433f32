"""The platform's side of PROTOCOL.md as a sans-I/O rule book, driven by the reference server.

`PlatformSession` decides *what* the platform answers; the server decides *when* (its
timing profile) and does the I/O. Rules (PROTOCOL.md, "Platform rules the harness can probe"):
1008 on a missing or mismatched tenant, `not_ready` before ready, `message_too_long`,
`rate_limited`, `bad_message` without closing, `unknown_type`, 1008 when no auth arrives in time.
Each rule has a boolean in `PlatformRules` (default True) whose False breaks exactly that rule,
so `harness conform` can be shown to catch each breach.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from harness.policies import RateLimiter
from harness.protocol import messages as m
from harness.protocol.messages import ErrorCode, MessageType

POLICY_VIOLATION = 1008
UNSUPPORTED_DATA = 1003


@dataclass(frozen=True)
class Send:
    frame: str


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True)
class StartInit:
    """Auth accepted: initialise, then call `PlatformSession.ready()` and send its frame."""


@dataclass(frozen=True)
class Reply:
    """A chat accepted: stream `PlatformSession.reply_frames(...)` for it."""

    message_id: str
    content: str


Action = Send | Close | StartInit | Reply


@dataclass(frozen=True)
class PlatformRules:
    tenant_id: str | None = None  # the only tenant accepted; None accepts any
    max_message_length: int = 4000
    rate_limit_requests: int = 10
    rate_limit_window_s: float = 60.0
    auth_timeout_s: float = 10.0
    send_established: bool = True  # PROTOCOL.md: optional, clients must not depend on it
    send_done: bool = True  # False: a platform that ends replies with stop_typing only
    # Each False breaks one rule of PROTOCOL.md (a non-conforming platform, for `conform`):
    check_tenant: bool = True  # False: a URL without tenant_id or session_id is accepted
    check_auth_tenant: bool = True  # False: an auth naming another tenant is accepted
    check_ready: bool = True  # False: a chat before connection_ready is answered
    check_length: bool = True  # False: a chat over max_message_length is answered
    check_rate: bool = True  # False: no rate limit
    keep_open_on_bad_json: bool = True  # False: bad_message, then the connection is closed
    answer_unknown_type: bool = True  # False: an unknown type is ignored silently
    answer_ping: bool = True  # False: a ping gets no pong
    close_on_auth_timeout: bool = True  # False: a connection without auth stays open
    end_replies: bool = True  # False: chunks without done, and no stop_typing after them


def error_frame(code: ErrorCode, message: str, in_reply_to: str | None = None) -> str:
    data: dict[str, str] = {"code": str(code), "message": message}
    if in_reply_to:
        data["in_reply_to"] = in_reply_to
    return m.encode(MessageType.ERROR, data)


class PlatformSession:
    """One client connection, seen from the platform."""

    def __init__(self, rules: PlatformRules, opened_at: float) -> None:
        self.rules = rules
        self.client_id = str(uuid.uuid4())
        self.tenant_id: str | None = None
        self.session_id: str | None = None
        self.opened_at = opened_at
        self.auth_at: float | None = None
        self.is_ready = False
        self._limiter = RateLimiter(rules.rate_limit_requests, rules.rate_limit_window_s)

    @property
    def auth_deadline(self) -> float | None:
        """When the connection is closed for want of auth (None once auth arrived)."""
        if self.auth_at is not None or not self.rules.close_on_auth_timeout:
            return None
        return self.opened_at + self.rules.auth_timeout_s

    def open(self, query: Mapping[str, str]) -> list[Action]:
        self.tenant_id = query.get("tenant_id") or None
        self.session_id = query.get("session_id") or None
        if self.rules.check_tenant and (not self.tenant_id or not self.session_id):
            return [Close(POLICY_VIOLATION, "tenant_id and session_id are required")]
        if self.rules.tenant_id is not None and self.tenant_id != self.rules.tenant_id:
            return [Close(POLICY_VIOLATION, f"unknown tenant {self.tenant_id!r}")]
        if not self.rules.send_established:
            return []
        data = {"client_id": self.client_id, "session_id": self.session_id}
        return [Send(m.encode(MessageType.CONNECTION_ESTABLISHED, data))]

    def auth_timed_out(self) -> list[Action]:
        return [
            Send(error_frame(ErrorCode.AUTH_TIMEOUT, "no auth message in time")),
            Close(POLICY_VIOLATION, "auth timeout"),
        ]

    def receive(self, frame: str | bytes, now: float) -> list[Action]:
        try:
            kind, data = m.decode(frame)
        except m.MalformedFrame as exc:
            answer: list[Action] = [Send(error_frame(ErrorCode.BAD_MESSAGE, str(exc)))]
            if not self.rules.keep_open_on_bad_json:
                answer.append(Close(UNSUPPORTED_DATA, "not a JSON message"))
            return answer
        if kind == MessageType.AUTH:
            return self._auth(data, now)
        if kind == MessageType.CHAT_MESSAGE:
            return self._chat(data, now)
        if kind == MessageType.PING:
            if not self.rules.answer_ping:
                return []
            return [Send(m.encode(MessageType.PONG, {"timestamp": data.get("timestamp")}))]
        if kind in (MessageType.TYPING, MessageType.STOP_TYPING):
            return []
        if not self.rules.answer_unknown_type:
            return []
        return [Send(error_frame(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}"))]

    def ready(self, now: float) -> str:
        """Mark the session ready and return the `connection_ready` frame to send now."""
        self.is_ready = True
        duration = now - (self.auth_at if self.auth_at is not None else self.opened_at)
        data = {
            "client_id": self.client_id,
            "tenant_id": self.tenant_id,
            "ready_duration": duration,
        }
        return m.encode(MessageType.CONNECTION_READY, data)

    def reply_frames(self, message_id: str, content: str, chunks: int) -> list[str]:
        """typing, `chunks` assistant frames (the last with done: true), stop_typing (without
        `end_replies`: no done, no stop_typing: the reply never visibly ends)."""
        words = f"Reply to: {content[:200]}".split(" ")
        size = -(-len(words) // chunks)  # consecutive words, as a stream of tokens comes
        # each chunk after the first starts with its space, as a token stream's do
        parts = [
            (" " if i else "") + " ".join(words[i * size : (i + 1) * size]) for i in range(chunks)
        ]
        frames = [m.encode(MessageType.TYPING, {})]
        for i, part in enumerate(parts):
            data: dict[str, object] = {
                "role": "assistant",
                "content": part,
                "in_reply_to": message_id,
                "message_id": str(uuid.uuid4()),
            }
            if self.rules.send_done and self.rules.end_replies:
                data["done"] = i == chunks - 1
            frames.append(m.encode(MessageType.CHAT_MESSAGE, data))
        if self.rules.end_replies:
            frames.append(m.encode(MessageType.STOP_TYPING, {}))
        return frames

    def _auth(self, data: dict[str, object], now: float) -> list[Action]:
        if self.auth_at is not None:
            return []  # a repeated auth changes nothing
        if self.rules.check_auth_tenant and data.get("tenant_id") != self.tenant_id:
            return [
                Send(error_frame(ErrorCode.TENANT_MISMATCH, "auth tenant differs from URL")),
                Close(POLICY_VIOLATION, "tenant mismatch"),
            ]
        self.auth_at = now
        return [StartInit()]

    def _chat(self, data: dict[str, object], now: float) -> list[Action]:
        message_id = str(data.get("message_id") or uuid.uuid4())
        content = data.get("content")
        if not self.is_ready and self.rules.check_ready:
            return [Send(error_frame(ErrorCode.NOT_READY, "connection not ready", message_id))]
        if not isinstance(content, str):
            return [
                Send(error_frame(ErrorCode.BAD_MESSAGE, "content must be a string", message_id))
            ]
        if self.rules.check_length and len(content) > self.rules.max_message_length:
            text = f"message longer than {self.rules.max_message_length} characters"
            return [Send(error_frame(ErrorCode.MESSAGE_TOO_LONG, text, message_id))]
        if self.rules.check_rate:
            if self._limiter.wait(now) > 0:
                text = f"more than {self.rules.rate_limit_requests} messages per window"
                return [Send(error_frame(ErrorCode.RATE_LIMITED, text, message_id))]
            self._limiter.record(now)
        return [Reply(message_id, content)]
