"""The one root error type, and the stable error-class names of PROTOCOL.md."""

from __future__ import annotations

import re
from enum import StrEnum

_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` with every character that would break its line (str.splitlines' set) escaped:
    a message quoting what the user gave (a key, a path, a value) stays one line."""
    return _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], text)


class HarnessError(Exception):
    """Bad input or an unusable target: the CLI prints it as one line and exits 2. The
    message is made one line here, whatever it quotes."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(one_line(str(message)), *args)


class ConfigError(HarnessError):
    """A setting has a value that is not allowed."""


class ErrorClass(StrEnum):
    """Why a phase failed. Stable names: reports and users' scripts depend on them."""

    CONNECTION_REFUSED = "connection_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    READY_TIMEOUT = "ready_timeout"
    CHAT_TIMEOUT = "chat_timeout"
    POLICY_VIOLATION = "policy_violation"  # close 1008
    SERVER_ERROR = "server_error"  # close 1011
    OVERLOADED = "overloaded"  # close 1013
    DROPPED = "dropped"  # any other unexpected close or lost connection
    # Added by the harness where PROTOCOL.md has no name for the condition:
    HANDSHAKE_REJECTED = "handshake_rejected"  # the upgrade got an HTTP status other than 101
    TLS_ERROR = "tls_error"  # certificate verification or TLS handshake failed
    REJECTED = "rejected"  # the platform answered a chat with an `error` frame
    PROTOCOL_ERROR = "protocol_error"  # the platform sent something the harness cannot accept
    HARNESS_ERROR = "harness_error"  # the harness's own fault (an exception of ours)


def error_class_for_close(code: int | None) -> ErrorClass | None:
    """Map a close code the platform sent to an error class (None for a normal closure)."""
    if code == 1000:
        return None
    return {
        1008: ErrorClass.POLICY_VIOLATION,
        1011: ErrorClass.SERVER_ERROR,
        1013: ErrorClass.OVERLOADED,
    }.get(code or 0, ErrorClass.DROPPED)
