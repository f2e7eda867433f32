"""Endpoint discovery as the document's client does it: the four endpoints tried at once,
5 s each, the first success in priority order wins, `/api/v1/ws/chat` if none does."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from harness.config import Settings
from harness.policies import EndpointResult, choose_endpoint
from harness.protocol.clock import MonotonicClock
from harness.protocol.messages import DISCOVERY_ENDPOINTS
from harness.protocol.session import ClientSession
from harness.transport import Connection, TlsOptions


@dataclass
class Discovery:
    results: list[EndpointResult]
    chosen: str

    @property
    def found(self) -> bool:
        return any(r.success for r in self.results)


def try_endpoint(settings: Settings, endpoint: str, timeout_s: float) -> EndpointResult:
    """Open a WebSocket on `endpoint` and close it again: success means the `101` came."""
    clock = MonotonicClock()
    session_settings = replace(settings.session_settings(), connection_timeout_s=timeout_s)
    session = ClientSession(session_settings, clock)
    conn = Connection(session, TlsOptions(settings.tls_verify, settings.ca_bundle))
    started = clock.now()
    if conn.open(settings.session_url(session.session_id, endpoint)):
        elapsed_ms = (clock.now() - started) * 1000
        conn.close()
        return EndpointResult(endpoint, True, f"Connection successful ({elapsed_ms:.1f} ms)")
    return EndpointResult(endpoint, False, f"{session.failure}: {conn.detail}")


def discover(settings: Settings, timeout_s: float = 5.0) -> Discovery:
    results: dict[str, EndpointResult] = {}

    def attempt(endpoint: str) -> None:
        results[endpoint] = try_endpoint(settings, endpoint, timeout_s)

    threads = [threading.Thread(target=attempt, args=(e,)) for e in DISCOVERY_ENDPOINTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ordered = [results[e] for e in DISCOVERY_ENDPOINTS]
    return Discovery(ordered, choose_endpoint(ordered))
