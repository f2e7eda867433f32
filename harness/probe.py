"""`harness probe`: the document's ConnectionTest as a command. One lifecycle, its figures."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.config import Settings
from harness.discovery import discover
from harness.errors import ErrorClass
from harness.protocol import messages as m
from harness.protocol.clock import Clock, MonotonicClock
from harness.protocol.session import ClientSession, PhaseSample, State
from harness.transport import Connection, TlsOptions

Log = Callable[[str], None]


@dataclass
class ProbeResult:
    url: str
    ready: bool
    error: str | None = None
    detail: str = ""
    phases_ms: dict[str, float] = field(default_factory=dict)  # the harness's phase names
    samples: list[PhaseSample] = field(default_factory=list)
    ready_info: m.ConnectionReady | None = None
    metrics: dict[str, object] = field(default_factory=dict)

    # The ConnectionTest component's own figures (its names, its arithmetic).
    @property
    def connection_time_ms(self) -> float | None:
        return self.phases_ms.get("connect")

    @property
    def ready_time_ms(self) -> float | None:
        return self.phases_ms.get("ready")

    @property
    def auth_delay_ms(self) -> float | None:
        """ConnectionTest's `authDelay`: readyTime - connectionTime (auth delay + platform init)."""
        if self.ready_time_ms is None or self.connection_time_ms is None:
            return None
        return self.ready_time_ms - self.connection_time_ms


def tls_options(settings: Settings) -> TlsOptions:
    return TlsOptions(settings.tls_verify, settings.ca_bundle)


def _debug_hook(log: Log, settings: Settings, session: ClientSession) -> Callable[..., None]:
    """The document's console log sequence, line for line."""

    def hook(direction: str, item: object, at: float) -> None:
        if direction == "send" and isinstance(item, str):
            kind, _ = m.decode(item)
            if kind == m.MessageType.AUTH:
                ids = {"tenantId": settings.tenant_id, "sessionId": session.session_id}
                log(f"[WebSocket] Sending authentication after 100ms delay: {json.dumps(ids)}")
            log(f"[WebSocket] Sent: {item}")
        elif isinstance(item, m.ConnectionReady):
            log("[WebSocket] Connection ready signal received from platform")
        elif item is None:
            log("[WebSocket] Received a frame that is not a JSON message")

    return hook


def run_probe(
    settings: Settings,
    chat: str | None = "Hello from the MIPTech harness probe",
    log: Log | None = None,
    clock: Clock | None = None,
) -> ProbeResult:
    """One lifecycle: connect, auth, ready, one chat, one heartbeat, close."""
    clock = clock or MonotonicClock()
    endpoint = settings.endpoint
    if settings.endpoint_discovery:
        endpoint = discover(settings).chosen
    samples: list[PhaseSample] = []
    session = ClientSession(settings.session_settings(), clock, samples.append)
    url = settings.session_url(session.session_id, endpoint)
    hook = _debug_hook(log, settings, session) if log else None
    conn = Connection(session, tls_options(settings), hook)
    if log:
        target = {
            "url": url,
            "endpoint": endpoint,
            "tenantId": settings.tenant_id,
            "sessionId": session.session_id,
        }
        log(f"[WebSocket] Connecting to discovered endpoint: {json.dumps(target)}")
    result = ProbeResult(url, ready=False, samples=samples)
    if conn.open(url):
        if log:
            log("[WebSocket] Connected to MIPTech Platform")
        result.ready = conn.wait_ready()
        if result.ready:
            result.ready_info = session.ready_info
            timeout = settings.chat_timeout_ms / 1000
            if chat:
                conn.chat(chat)
                conn.run_until(lambda: session.chats_in_flight == 0, timeout)
            conn.ping()
            conn.run_until(lambda: session.pings_in_flight == 0, timeout)
        conn.close()
        if log and session.close_code is not None:
            reason = session.close_reason or (
                "Normal closure" if session.close_code == 1000 else ""
            )
            log(f"[WebSocket] Disconnected: {session.close_code} {reason}".rstrip())
    if not result.ready:
        result.error = str(session.failure or ErrorClass.READY_TIMEOUT)
        result.detail = conn.detail or (
            f"closed by the platform with {session.close_code} {session.close_reason}".rstrip()
            if session.close_code
            else ""
        )
    for sample in samples:
        if sample.ok:
            result.phases_ms.setdefault(sample.phase, sample.duration_us / 1000)
        elif result.error is None and sample.error:
            result.error, result.detail = sample.error, f"{sample.phase} failed"
    result.metrics = session.metrics()
    if log and result.connection_time_ms is not None:
        log(f"[ConnectionTest] WebSocket connected in {result.connection_time_ms:.0f} ms")
    if log and result.ready_time_ms is not None:
        log(f"[ConnectionTest] Platform ready signal received in {result.ready_time_ms:.0f} ms")
    assert session.state in (State.DISCONNECTED, State.FAILED, State.RECONNECTING)
    return result


ERROR_WORDS = {
    "connection_refused": "connection refused: check platform availability",
    "connect_timeout": "connection timeout: no response within the connection timeout",
    "ready_timeout": "ready timeout: platform did not signal ready state in time",
    "policy_violation": "policy violation (1008): check tenant_id and the auth message",
    "server_error": "server internal error (1011): platform configuration issue",
    "overloaded": "platform overloaded (1013): try again later",
    "dropped": "connection dropped by the platform",
    "handshake_rejected": "the upgrade was refused: check the endpoint path (404), the "
    "credentials (401, 403: --header, the URL's query) or the Origin (page_url)",
    "tls_error": "TLS failed: check the certificate, or pass --ca-bundle",
    "rejected": "the platform answered the chat with an error",
    "chat_timeout": "no chat reply within the chat timeout",
    "protocol_error": "the platform sent a frame the harness cannot accept (see the detail)",
    "harness_error": "the harness itself failed (a bug: please report it with --debug output)",
}
"""Words for every ErrorClass (a test keeps the two the same)."""


def format_result(result: ProbeResult, settings: Settings) -> str:
    def ms(value: float | None) -> str:
        return f"{value:8.1f} ms" if value is not None else "       - ms"

    p = result.phases_ms
    lines = [
        f"probe {result.url}",
        f"  connection time {ms(result.connection_time_ms)}   documented 50-200 ms",
        f"  ready time      {ms(result.ready_time_ms)}   documented 400-600 ms",
        f"  auth delay      {ms(result.auth_delay_ms)}   ConnectionTest's authDelay"
        " = ready time - connection time",
        f"    client auth delay {ms(p.get('auth_delay'))}   documented 100 ms (the actual sleep)",
        f"    platform init     {ms(p.get('platform_init'))}   documented 300-500 ms",
        f"  chat round trip {ms(p.get('chat_complete'))}"
        f"   first reply frame {ms(p.get('chat_first'))}",
        f"  heartbeat       {ms(p.get('heartbeat'))}   ping -> pong",
    ]
    if not settings.tls_verify and result.url.startswith("wss://"):
        lines.append("  WARNING: TLS certificate verification was turned off (--insecure)")
    if result.ready:
        info = result.ready_info
        duration = f", platform ready_duration {info.ready_duration:.6f} s" if info else ""
        client = f"client_id {info.client_id}" if info else ""
        lines.append(f"READY ({client}{duration})")
    else:
        words = ERROR_WORDS.get(result.error or "", result.error or "")
        detail = f" [{result.detail}]" if result.detail else ""
        lines.append(f"NOT READY: {result.error}: {words}{detail}")
    return "\n".join(lines)
