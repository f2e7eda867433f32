"""The message vocabulary of PROTOCOL.md: JSON text frames `{"type": ..., "data": {...}}`.

Builders for both directions and a parser that turns a platform frame into a typed event.
Shared by the client session, the reference platform and the tests.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, NoReturn

import orjson

ENDPOINT = "/api/v1/ws/chat"
QUERY_KEYS = frozenset({"tenant_id", "session_id"})  # the document's query: the client's own
DISCOVERY_ENDPOINTS = ("/api/v1/ws/chat", "/api/v1/ws", "/ws", "/api/ws")
MAX_JSON_DEPTH = 64  # arrays and objects inside one another; a real message nests 2 or 3


class MessageType(StrEnum):
    AUTH = "auth"
    CONNECTION_ESTABLISHED = "connection_established"
    CONNECTION_READY = "connection_ready"
    CHAT_MESSAGE = "chat_message"
    STATUS = "status"
    ERROR = "error"
    PING = "ping"
    PONG = "pong"
    TYPING = "typing"
    STOP_TYPING = "stop_typing"


class ErrorCode(StrEnum):
    """`error` frame codes the harness knows (PROTOCOL.md, assumed body `{code, message}`)."""

    NOT_READY = "not_ready"
    TENANT_MISMATCH = "tenant_mismatch"
    MESSAGE_TOO_LONG = "message_too_long"
    RATE_LIMITED = "rate_limited"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    AUTH_TIMEOUT = "auth_timeout"


class CloseCode(IntEnum):
    """The close codes (RFC 6455 7.4.1) the harness sends."""

    NORMAL = 1000
    PROTOCOL_ERROR = 1002
    INVALID_DATA = 1007  # "invalid frame payload data": a text frame that is not UTF-8
    MESSAGE_TOO_BIG = 1009


class MalformedFrame(ValueError):
    """A frame that is not a UTF-8 JSON object with a string `type` and an object `data`
    (a missing `data` reads as `{}`), nests deeper than allowed, or holds a value the
    harness cannot represent. `close_code`: what to close the connection with."""

    def __init__(self, message: str, close_code: int = CloseCode.PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.close_code = close_code


def encode(kind: str, data: dict[str, Any]) -> str:
    return json.dumps({"type": str(kind), "data": data}, separators=(",", ":"))


def client_frame(kind: str, data: dict[str, str]) -> str:
    """A client message as the browser's `JSON.stringify` writes it: compact, other than
    ASCII as it is (`encode` escapes it). orjson writes it in a tenth of json's time; a lone
    surrogate, which UTF-8 cannot carry, makes it refuse, and then json escapes it."""
    message = {"type": str(kind), "data": data}
    try:
        return orjson.dumps(message).decode()
    except orjson.JSONEncodeError:
        return json.dumps(message, separators=(",", ":"))


def _not_json(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


# The standard decoder, minus NaN and Infinity (not JSON; json.loads accepts them).
_DECODER = json.JSONDecoder(parse_constant=_not_json)
# A JSON string (skipped whole: brackets inside it are text) or a bracket.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _too_deep(text: str, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep; stops at the first excess."""
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match[0]
        if token == "[" or token == "{":
            depth += 1
            if depth > limit:
                return True
        elif token == "]" or token == "}":
            depth -= 1
    return False


_NOT_READ = object()


def _has_float(container: Any) -> bool:  # a dict or a list
    for value in container.values() if type(container) is dict else container:
        kind = type(value)
        if kind is float or ((kind is dict or kind is list) and _has_float(value)):
            return True
    return False


def _read_fast(frame: bytes) -> Any:
    """The frame as orjson reads it (a third of json's time), where that is exactly what
    `json` reads; `_NOT_READ` otherwise. The caller has bounded its depth. orjson refuses
    what json refuses, and some of what json reads (a lone surrogate escape, a number beyond
    a float's range): those go to json. It reads an integer beyond 64 bits as a float: so a
    frame with any float goes to json too (a platform's frames rarely hold one). Anything
    else that goes wrong here (a RecursionError in a deep stack, a MemoryError) is json's to
    decide as well."""
    try:
        message = orjson.loads(frame)
        return _NOT_READ if _has_float([message]) else message
    except Exception:
        return _NOT_READ


def decode(frame: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, dict[str, Any]]:
    """Split a frame into (type, data); raise MalformedFrame, and nothing else, otherwise."""
    # Each level needs an opening bracket: counting them (C speed) clears every usual frame.
    if isinstance(frame, bytes) and frame.count(b"[") + frame.count(b"{") <= max_depth:
        message = _read_fast(frame)
        if message is _NOT_READ:
            message = _read(frame, max_depth)
    else:
        message = _read(frame, max_depth)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise MalformedFrame("not an object with a string 'type'")
    data = message.get("data", {})
    if not isinstance(data, dict):
        raise MalformedFrame("'data' is not an object")
    return message["type"], data


def _read(frame: str | bytes, max_depth: int) -> Any:
    """The frame's JSON, by the standard library; MalformedFrame if it is not that."""
    if isinstance(frame, str):
        text = frame
    else:
        try:
            text = frame.decode()  # strict UTF-8, as RFC 6455 requires of a text frame
        except UnicodeDecodeError as exc:
            raise MalformedFrame(f"not UTF-8: {exc}", CloseCode.INVALID_DATA) from None
    # Each level needs an opening bracket: counting them (C speed) clears every usual frame
    # at once; only one with more brackets than the limit is scanned for its actual depth.
    if text.count("[") + text.count("{") > max_depth and _too_deep(text, max_depth):
        raise MalformedFrame(f"JSON nested deeper than {max_depth}")
    try:
        return _DECODER.decode(text)
    except Exception as exc:  # ValueError, RecursionError, MemoryError, ...: all malformed
        raise MalformedFrame(f"not JSON: {type(exc).__name__}: {exc}"[:300]) from None


def iso_timestamp(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds, as the document's `new Date().toISOString()`. Every
    message the client sends carries one: the date and time to the second are formatted once
    a second, the milliseconds each time (a tenth of the cost)."""
    fraction, whole = math.modf(epoch)  # split and rounded as datetime.fromtimestamp does
    second, micro = int(whole), round(fraction * 1e6)
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    milli = micro // 1000
    if second != _second[0]:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second[:] = second, text
    return f"{_second[1]}.{milli:03d}Z"


_second: list[Any] = [None, ""]  # the last second formatted, and its text


# Client -> platform ------------------------------------------------------------------------


def auth_frame(
    tenant_id: str, session_id: str, user_agent: str, page_url: str, epoch: float
) -> str:
    return client_frame(
        MessageType.AUTH,
        {
            "tenant_id": tenant_id,
            "session_id": session_id,
            "user_agent": user_agent,
            "page_url": page_url,
            "timestamp": iso_timestamp(epoch),
        },
    )


def chat_frame(content: str, message_id: str, session_id: str, epoch: float) -> str:
    return client_frame(
        MessageType.CHAT_MESSAGE,
        {
            "content": content,
            "message_id": message_id,
            "session_id": session_id,
            "timestamp": iso_timestamp(epoch),
        },
    )


def ping_frame(epoch: float) -> str:
    return client_frame(MessageType.PING, {"timestamp": iso_timestamp(epoch)})


# Platform -> client: typed events ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionEstablished:
    client_id: str | None


@dataclass(frozen=True, slots=True)
class ConnectionReady:
    client_id: str | None
    tenant_id: str | None
    ready_duration: float | None  # seconds, as the platform reports it


@dataclass(frozen=True, slots=True)
class AssistantChunk:
    in_reply_to: str | None
    content: str
    done: bool | None  # None: the platform's chunks carry no `done` (stop_typing completes)


@dataclass(frozen=True, slots=True)
class Typing:
    active: bool  # True for `typing`, False for `stop_typing`


@dataclass(frozen=True, slots=True)
class Pong:
    timestamp: str | None


@dataclass(frozen=True, slots=True)
class Status:
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlatformError:
    code: str
    message: str
    in_reply_to: str | None


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    type: str


ServerEvent = (
    ConnectionEstablished
    | ConnectionReady
    | AssistantChunk
    | Typing
    | Pong
    | Status
    | PlatformError
    | UnknownMessage
)


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def parse_server_frame(frame: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> ServerEvent:
    """Turn one platform frame into a typed event. Unknown types are events, not errors;
    a frame the harness cannot accept raises MalformedFrame, never another exception."""
    kind, data = decode(frame, max_depth)
    try:
        return _event(kind, data)
    except MalformedFrame:
        raise
    except Exception as exc:  # e.g. OverflowError: a number too large for a float
        raise MalformedFrame(f"{kind}: {type(exc).__name__}: {exc}"[:300]) from None


def _event(kind: str, data: dict[str, Any]) -> ServerEvent:
    if kind == MessageType.CONNECTION_READY:
        duration = data.get("ready_duration")
        seconds = float(duration) if isinstance(duration, int | float) else None
        if seconds is not None and not math.isfinite(seconds):
            raise MalformedFrame("connection_ready: ready_duration is not a finite number")
        return ConnectionReady(_opt_str(data, "client_id"), _opt_str(data, "tenant_id"), seconds)
    if kind == MessageType.CHAT_MESSAGE:
        if data.get("role", "assistant") != "assistant":
            return UnknownMessage(f"{kind}/{data.get('role')}")
        content = data.get("content")
        return AssistantChunk(
            _opt_str(data, "in_reply_to"),
            content if isinstance(content, str) else "",
            done if isinstance(done := data.get("done"), bool) else None,
        )
    if kind in (MessageType.TYPING, MessageType.STOP_TYPING):
        return Typing(kind == MessageType.TYPING)
    if kind == MessageType.PONG:
        return Pong(_opt_str(data, "timestamp"))
    if kind == MessageType.CONNECTION_ESTABLISHED:
        return ConnectionEstablished(_opt_str(data, "client_id"))
    if kind == MessageType.ERROR:
        return PlatformError(
            str(data.get("code", "")), str(data.get("message", "")), _opt_str(data, "in_reply_to")
        )
    if kind == MessageType.STATUS:
        return Status(data)
    return UnknownMessage(kind)
