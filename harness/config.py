"""Typed, validated settings. Precedence: command line > environment > `.env` > scenario > defaults.

Every setting has a short environment name `MIPTECH_<NAME>`; the ones the document's client
already reads also answer to its `REACT_APP_*` names, so a team's existing `.env` works as is.
Times are in milliseconds, as in the document.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import ipaddress
import math
import os
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from dotenv import dotenv_values

from harness import redact
from harness.checks import range_problem, read_text
from harness.errors import ConfigError
from harness.headers import header_secrets, parse_headers
from harness.protocol.messages import ENDPOINT, QUERY_KEYS
from harness.protocol.session import SessionSettings


@dataclass(frozen=True)
class Settings:
    ws_url: str = "ws://localhost:8000"
    endpoint: str = ENDPOINT
    tenant_id: str = "miptech-company"
    tenants: str = ""  # a tenant mix, "a:70,b:30": each lifecycle's tenant drawn from it
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
    # Handshake headers as ("Name", "value") pairs: Authorization, an API key, a cookie.
    headers: tuple[tuple[str, str], ...] = ()
    max_frame_bytes: int = 16 * 1024 * 1024  # a larger platform message: protocol_error, 1009
    max_json_depth: int = 64  # a platform frame nested deeper: protocol_error, 1002
    # Local addresses connections come from, in turn ("127.0.0.2-127.0.0.9,10.0.0.5"): each
    # source address has its own ~28,000 ephemeral ports to a platform address
    source_addresses: str = ""
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
            handshake_headers=self.handshake_headers(),
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

    def handshake_headers(self) -> tuple[str, ...]:
        """What the document's browser client sends with the upgrade: the Origin of the page
        it runs on and its User-Agent; then the configured headers (which may replace them)."""
        own = {name.lower() for name, _ in self.headers}
        lines = [
            f"{name}: {value}"
            for name, value in (
                ("Origin", origin_of(self.page_url)),
                ("User-Agent", self.user_agent),
            )
            if name.lower() not in own
        ]
        return (*lines, *(f"{name}: {value}" for name, value in self.headers))

    def session_url(
        self, session_id: str, endpoint: str | None = None, tenant_id: str | None = None
    ) -> str:
        """The document's URL: base + endpoint + ?tenant_id=...&session_id=..., after the
        query the target URL came with (a platform that takes a token there)."""
        prefix = _url_prefix(self.ws_url, endpoint or self.endpoint, tenant_id or self.tenant_id)
        return prefix + urlencode({"session_id": session_id})


@functools.lru_cache(maxsize=256)
def _url_prefix(ws_url: str, endpoint: str, tenant_id: str) -> str:
    """Everything of a session's URL before its session_id (made once per target and tenant:
    every lifecycle asks)."""
    target = urlsplit(ws_url)
    query = urlencode({"tenant_id": tenant_id})
    if target.query:
        query = f"{target.query}&{query}"
    base = f"{target.scheme}://{target.netloc}{target.path.rstrip('/')}"
    return f"{base}{endpoint}?{query}&"


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


# Their meaning is known: none is a secret but the headers (whose values are remembered as
# secrets when read), however their names look (MIPTECH_AUTH_DELAY_MS is a delay).
redact.own_settings(env for name in FIELDS if name != "headers" for env in env_names(name))


def _url_problem(value: str, schemes: tuple[str, ...], example: str) -> str | None:
    """Why `value` is not a URL of one of `schemes` with a host and a valid port."""
    kinds = " or ".join(s + "://" for s in schemes)
    allowed = f"must be a {kinds} URL with a host and an optional port 1-65535, e.g. {example}"
    if any(c.isspace() or not c.isprintable() for c in value):
        return allowed + " (no spaces or control characters)"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return allowed
    if parts.scheme not in schemes or not parts.hostname:
        return allowed
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        return allowed
    return None


def _check_url(value: str) -> str | None:
    return _url_problem(value, ("ws", "wss"), "ws://localhost:8000")


MAX_SOURCES = 4096


def source_address_list(text: str) -> tuple[str, ...]:
    """The addresses of a `source_addresses` setting: A, A-B (IPv4, inclusive), comma
    separated. Raises ValueError saying what is wrong."""
    found: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise ValueError("an empty entry; write e.g. 127.0.0.2-127.0.0.9,10.0.0.5")
        low, dash, high = part.partition("-")
        try:
            first = ipaddress.ip_address(low.strip())
            last = ipaddress.ip_address(high.strip()) if dash else first
        except ValueError:
            raise ValueError(f"{part!r} is not an IP address or a range A-B") from None
        if first.version != last.version or int(last) < int(first):
            raise ValueError(f"{part!r}: a range goes from a lower to a higher IPv4 address")
        if int(last) - int(first) + len(found) >= MAX_SOURCES:
            raise ValueError(f"more than {MAX_SOURCES} addresses")
        found += [str(ipaddress.ip_address(n)) for n in range(int(first), int(last) + 1)]
    if len(set(found)) != len(found):
        raise ValueError("an address appears twice")
    return tuple(found)


def _sources_problem(value: str) -> str | None:
    if not value:
        return None
    try:
        source_address_list(value)
    except ValueError as exc:
        return str(exc)
    return None


def _tenants_problem(value: str) -> str | None:
    if not value:
        return None  # no mix: every session is tenant_id's
    from harness.conversations import parse_tenants  # it checks each name as tenant_id

    try:
        parse_tenants(value, "")
    except ConfigError as exc:  # said as "' VALUE': problem"; the caller names the value
        return str(exc).split(": ", 1)[-1]
    return None


def _check_text(value: str) -> str | None:
    """A header's value: printable, one line."""
    return None if value.isprintable() else "must be printable text on one line"


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "ws_url": _check_url,
    "endpoint": lambda v: (
        None
        if re.fullmatch(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*", v)
        else "must be a URL path starting with '/' (no spaces, '?' or '#')"
    ),
    "page_url": lambda v: _url_problem(v, ("http", "https"), "http://localhost:3000/"),
    "user_agent": _check_text,
    "tenants": lambda v: _tenants_problem(v),
    "source_addresses": lambda v: _sources_problem(v),
    "tenant_id": lambda v: (
        None
        if re.fullmatch(r"[A-Za-z0-9._-]{1,128}", v)
        else "must be a name of 1 to 128 letters, digits, '.', '_' or '-'"
    ),
    "reconnect_jitter": lambda v: range_problem(v, 0, 1),
    # Python's JSON parser recurses per level: past a few hundred it cannot parse anyway.
    "max_json_depth": lambda v: range_problem(v, 1, 500),
    "ca_bundle": lambda v: None if v is None else _ca_bundle_problem(v),
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


def _ca_bundle_problem(path: Path) -> str | None:
    """A CA bundle is bad input when it cannot be loaded: found now, not as a platform
    `tls_error` on every connection of the run."""
    if not path.is_file():
        return f"no such file: {path}"
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError):
        return "is not a file of PEM CA certificates"
    return None


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
            value = float(str(raw)) if not isinstance(raw, bool | list | dict) else float("nan")
        except ValueError:
            raise ValueError("must be a number") from None
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    if name == "headers":
        return parse_headers(raw)
    if not isinstance(raw, str):
        raise ValueError("must be text")
    if kind == "Path | None":
        return Path(raw).expanduser() if raw else None
    return raw


def _validate(name: str, value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        problem = range_problem(value, 0, above=name in _POSITIVE)
        if problem:
            return problem
    check = _CHECKS.get(name)
    return check(value) if check else None


def setting_problem(name: str, raw: object) -> str | None:
    """Why `raw` is not an allowed value of setting `name`, None if it is (for values that
    reach a setting's rules by another road: `serve --endpoint`, `nightly --host`)."""
    try:
        return _validate(name, _convert(name, raw))
    except ValueError as exc:
        return str(exc)


def load_settings(
    cli: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = None,
    scenario: Mapping[str, object] | None = None,
    scenario_file: str | None = None,
) -> Settings:
    """Merge every source into validated Settings; a bad value raises ConfigError."""
    environ = os.environ if environ is None else environ
    scenario_label = f"scenario {scenario_file}" if scenario_file else "scenario"
    layers: list[tuple[str, Mapping[str, object]]] = [(scenario_label, dict(scenario or {}))]
    if env_file is not None:
        if not env_file.is_file():
            raise ConfigError(f"--env-file: no such file: {env_file}")
        text = read_text(env_file, ".env file")
        values = {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
        layers.append((f".env file {env_file}", _from_env(values)))
    layers.append(("environment", _from_env(environ)))
    layers.append(("command line", {k: v for k, v in (cli or {}).items() if v is not None}))

    chosen: dict[str, Any] = {}
    sources = dict.fromkeys(FIELDS, "default")
    named = {name: f"{name} (default)" for name in FIELDS}  # for a rule of two settings
    for source, layer in layers:
        for key, raw in layer.items():
            name, origin = key.split("|", 1) if "|" in key else (key, key)
            if name not in FIELDS:
                raise ConfigError(f"unknown setting {origin!r} in {source}")
            where = f"{origin} from {source}" if origin != name else f"{name} from {source}"
            shown = _shown(name, raw)
            try:
                value = _convert(name, raw)
            except ValueError as exc:
                raise ConfigError(f"setting {where}: {shown}{exc}") from None
            problem = _validate(name, value)
            if problem:
                raise ConfigError(f"setting {where}: {shown}{problem}")
            chosen[name] = value
            sources[name] = source
            named[name] = where
    settings = Settings(**chosen, sources=sources)
    redact.remember(*header_secrets(settings.headers))
    redact.remember_url(settings.ws_url)
    query = urlsplit(settings.ws_url).query
    taken = sorted({k for k, _ in parse_qsl(query, keep_blank_values=True)} & QUERY_KEYS)
    if taken:
        raise ConfigError(
            f"setting {named['ws_url']}: its query sets {', '.join(taken)}, which the harness "
            "sets for every session (use --tenant or MIPTECH_TENANT_ID for the tenant)"
        )
    if not settings.tls_verify and settings.ca_bundle is not None:
        raise ConfigError(
            f"setting {named['tls_verify']} turns verification off, but "
            f"{named['ca_bundle']} gives certificates to verify with: choose one"
        )
    if settings.max_reconnect_delay_ms < settings.reconnect_delay_ms:
        raise ConfigError(
            f"setting {named['max_reconnect_delay_ms']} ({settings.max_reconnect_delay_ms:g}): "
            f"must be >= {named['reconnect_delay_ms']} ({settings.reconnect_delay_ms:g})"
        )
    return settings


def origin_of(url: str) -> str:
    """A page's origin as a browser sends it: scheme, lower-case host, port if not default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


def _shown(name: str, raw: object) -> str:
    """The bad value as an error quotes it: never a header (all secret); a URL masked."""
    if name == "headers":
        return ""
    if name in ("ws_url", "page_url") and isinstance(raw, str):
        return f"{redact.mask_url(raw)!r} "
    return f"{raw!r} "


def _from_env(environ: Mapping[str, str]) -> dict[str, object]:
    """Settings named in an environment, keyed 'name|ENV_NAME' so errors can name the variable."""
    found: dict[str, object] = {}
    for name in FIELDS:
        for env in env_names(name):
            if env in environ:
                found = {k: v for k, v in found.items() if not k.startswith(name + "|")}
                found[f"{name}|{env}"] = environ[env]
    return found


def split_target(url: str) -> dict[str, str]:
    """Settings from a target URL (`--host`, `--url`): its path is the endpoint; its query
    (a platform that takes a token there) stays with the URL, sent on every connection."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "ws://[::1": validated as ws_url below, one line
        return {"ws_url": url}
    if not parts.scheme or not parts.netloc:
        return {"ws_url": url}  # validated as ws_url: one line saying what is allowed
    target = {"ws_url": f"{parts.scheme}://{parts.netloc}"}
    if parts.query:
        target["ws_url"] += f"?{parts.query}"
    if parts.path not in ("", "/"):
        target["endpoint"] = parts.path
    return target
