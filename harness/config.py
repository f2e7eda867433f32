"""Typed, validated settings. Precedence: command line > environment > `.env` > scenario > defaults.

Every setting has a short environment name `MIPTECH_<NAME>`; the ones the document's client
already reads also answer to its `REACT_APP_*` names, so a team's existing `.env` works as is.
Times are in milliseconds, as in the document.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from dotenv import dotenv_values

from harness.errors import ConfigError
from harness.protocol.messages import ENDPOINT
from harness.protocol.session import SessionSettings


@dataclass(frozen=True)
class Settings:
    ws_url: str = "ws://localhost:8000"
    endpoint: str = ENDPOINT
    tenant_id: str = "miptech-company"
    endpoint_discovery: bool = False
    debug: bool = False
    auth_delay_ms: float = 100.0
    connection_timeout_ms: float = 10_000.0
    ready_timeout_ms: float = 10_000.0
    chat_timeout_ms: float = 30_000.0
    heartbeat_interval_ms: float = 30_000.0
    max_reconnect_attempts: int = 5
    reconnect_delay_ms: float = 1_000.0
    max_reconnect_delay_ms: float = 30_000.0
    reconnect_jitter: float = 0.0
    message_queue_limit: int = 100
    circuit_breaker_threshold: int = 3
    circuit_breaker_timeout_ms: float = 60_000.0
    max_message_length: int = 4000
    chat_max_retries: int = 3
    chat_retry_delay_ms: float = 1_000.0
    rate_limit_requests: int = 10
    rate_limit_window_ms: float = 60_000.0
    tls_verify: bool = True
    ca_bundle: Path | None = None
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) miptech-harness"
    page_url: str = "http://localhost:3000/"
    max_frame_bytes: int = 16 * 1024 * 1024  # a larger platform message: protocol_error, 1009
    max_json_depth: int = 64  # a platform frame nested deeper: protocol_error, 1002
    # Where each value came from ("default", "scenario", ".env", "environment", "command line").
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def session_settings(self, reconnect: bool = False) -> SessionSettings:
        return SessionSettings(
            tenant_id=self.tenant_id,
            auth_delay_s=self.auth_delay_ms / 1000,
            connection_timeout_s=self.connection_timeout_ms / 1000,
            ready_timeout_s=self.ready_timeout_ms / 1000,
            chat_timeout_s=self.chat_timeout_ms / 1000,
            heartbeat_interval_s=self.heartbeat_interval_ms / 1000,
            message_queue_limit=self.message_queue_limit,
            max_message_length=self.max_message_length,
            user_agent=self.user_agent,
            page_url=self.page_url,
            reconnect=reconnect,
            max_reconnect_attempts=self.max_reconnect_attempts,
            reconnect_delay_s=self.reconnect_delay_ms / 1000,
            max_reconnect_delay_s=self.max_reconnect_delay_ms / 1000,
            reconnect_jitter=self.reconnect_jitter,
            circuit_breaker_threshold=self.circuit_breaker_threshold,
            circuit_breaker_timeout_s=self.circuit_breaker_timeout_ms / 1000,
            max_frame_bytes=self.max_frame_bytes,
            max_json_depth=self.max_json_depth,
        )

    def session_url(self, session_id: str, endpoint: str | None = None) -> str:
        """The document's URL: base + endpoint + ?tenant_id=...&session_id=..."""
        query = urlencode({"tenant_id": self.tenant_id, "session_id": session_id})
        return f"{self.ws_url.rstrip('/')}{endpoint or self.endpoint}?{query}"


# The document's own names for settings its client reads (besides MIPTECH_<NAME>).
DOCUMENT_NAMES: dict[str, tuple[str, ...]] = {
    "ws_url": ("REACT_APP_MIPTECH_WS_URL",),
    "tenant_id": ("REACT_APP_MIPTECH_TENANT_ID",),
    "endpoint_discovery": ("REACT_APP_ENABLE_ENDPOINT_DISCOVERY",),
    "debug": ("REACT_APP_DEBUG_WEBSOCKET",),
    "max_message_length": ("REACT_APP_CHAT_MAX_MESSAGE_LENGTH",),
    "chat_max_retries": ("REACT_APP_CHAT_MAX_RETRIES",),
    "chat_retry_delay_ms": ("REACT_APP_CHAT_RETRY_DELAY",),
    "rate_limit_requests": ("REACT_APP_RATE_LIMIT_REQUESTS",),
    "rate_limit_window_ms": ("REACT_APP_RATE_LIMIT_WINDOW",),
}

FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "sources"}


def env_names(name: str) -> tuple[str, ...]:
    """Environment names for a setting, strongest last (MIPTECH_* beats REACT_APP_*)."""
    return (*DOCUMENT_NAMES.get(name, ()), f"MIPTECH_{name.upper()}")


def _check_url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return "must be a ws:// or wss:// URL with a host, e.g. ws://localhost:8000"
    return None


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "ws_url": _check_url,
    "endpoint": lambda v: None if v.startswith("/") else "must start with '/'",
    "tenant_id": lambda v: (
        None
        if re.fullmatch(r"[A-Za-z0-9._-]+", v)
        else "must be a non-empty name of letters, digits, '.', '_' or '-'"
    ),
    "reconnect_jitter": lambda v: None if 0 <= v <= 1 else "must be between 0 and 1",
    # Python's JSON parser recurses per level: past a few hundred it cannot parse anyway.
    "max_json_depth": lambda v: None if v <= 500 else "must be at most 500",
    "ca_bundle": lambda v: None if v is None or v.is_file() else f"no such file: {v}",
}
_POSITIVE = {
    "connection_timeout_ms",
    "ready_timeout_ms",
    "chat_timeout_ms",
    "heartbeat_interval_ms",
    "reconnect_delay_ms",
    "max_reconnect_delay_ms",
    "circuit_breaker_threshold",
    "circuit_breaker_timeout_ms",
    "max_message_length",
    "rate_limit_requests",
    "rate_limit_window_ms",
    "max_frame_bytes",
    "max_json_depth",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(name: str, raw: object) -> Any:
    """A raw value (string from env/CLI, or TOML value) as the setting's type."""
    kind = str(FIELDS[name].type)
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError("must be true or false")
    if kind == "int":
        if isinstance(raw, bool) or not re.fullmatch(r"\s*-?\d+\s*", str(raw)):
            raise ValueError("must be a whole number")
        return int(str(raw))
    if kind == "float":
        try:
            return float(str(raw)) if not isinstance(raw, bool) else float("nan")
        except ValueError:
            raise ValueError("must be a number") from None
    if kind == "Path | None":
        return Path(str(raw)).expanduser() if str(raw) else None
    return str(raw)


def _validate(name: str, value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value < 0:
            return "must be a number >= 0"
        if name in _POSITIVE and value <= 0:
            return "must be greater than 0"
    check = _CHECKS.get(name)
    return check(value) if check else None


def load_settings(
    cli: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = None,
    scenario: Mapping[str, object] | None = None,
) -> Settings:
    """Merge every source into validated Settings; a bad value raises ConfigError."""
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, Mapping[str, object]]] = [("scenario", dict(scenario or {}))]
    if env_file is not None:
        if not env_file.is_file():
            raise ConfigError(f"--env-file: no such file: {env_file}")
        values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        layers.append((f".env file {env_file}", _from_env(values)))
    layers.append(("environment", _from_env(environ)))
    layers.append(("command line", {k: v for k, v in (cli or {}).items() if v is not None}))

    chosen: dict[str, Any] = {}
    sources = dict.fromkeys(FIELDS, "default")
    for source, layer in layers:
        for key, raw in layer.items():
            name, origin = key.split("|", 1) if "|" in key else (key, key)
            if name not in FIELDS:
                raise ConfigError(f"unknown setting {origin!r} in {source}")
            where = f"{origin} from {source}" if origin != name else f"{name} from {source}"
            try:
                value = _convert(name, raw)
            except ValueError as exc:
                raise ConfigError(f"setting {where}: {raw!r} {exc}") from None
            problem = _validate(name, value)
            if problem:
                raise ConfigError(f"setting {where}: {raw!r} {problem}")
            chosen[name] = value
            sources[name] = source
    settings = Settings(**chosen, sources=sources)
    if settings.max_reconnect_delay_ms < settings.reconnect_delay_ms:
        raise ConfigError("setting max_reconnect_delay_ms: must be >= reconnect_delay_ms")
    return settings


def _from_env(environ: Mapping[str, str]) -> dict[str, object]:
    """Settings named in an environment, keyed 'name|ENV_NAME' so errors can name the variable."""
    found: dict[str, object] = {}
    for name in FIELDS:
        for env in env_names(name):
            if env in environ:
                found = {k: v for k, v in found.items() if not k.startswith(name + "|")}
                found[f"{name}|{env}"] = environ[env]
    return found
