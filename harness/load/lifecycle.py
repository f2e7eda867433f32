"""One simulated client's lifecycle, as the Locust users run it (no Locust imports here).

connect -> the 100 ms auth delay -> auth -> connection_ready -> chats (typing indicator, the
client's own rate limit and length limit respected) -> heartbeats -> close. Held sessions
reconnect with the document's backoff and circuit breaker when dropped.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from harness.config import Settings
from harness.load.health import HealthMonitor
from harness.load.results import ProcessResults
from harness.load.scenario import Knobs, Scenario
from harness.policies import RateLimiter
from harness.protocol.clock import MonotonicClock
from harness.protocol.session import CircuitOpen, ClientSession, PhaseSample, State
from harness.transport import Connection, TlsOptions

WORDS = [
    "hello",
    "could",
    "you",
    "tell",
    "me",
    "about",
    "pricing",
    "support",
    "and",
    "the",
    "platform",
    "please",
]


@dataclass
class RunContext:
    """What every user of one process shares: settings, knobs, the timing sink, health."""

    settings: Settings
    knobs: Knobs
    results: ProcessResults
    health: HealthMonitor
    scenario: Scenario | None = None
    max_loop_lag_ms: float = 10.0  # the run is invalid when this process's lag p99 exceeds it
    final_sent: bool = False  # a worker reports its final figures once
    clock: MonotonicClock = field(default_factory=MonotonicClock)
    rng: random.Random = field(default_factory=random.Random)

    @property
    def tls(self) -> TlsOptions:
        return TlsOptions(self.settings.tls_verify, self.settings.ca_bundle)

    def message(self) -> str:
        length = min(self.knobs.message_length, self.settings.max_message_length)
        text = " ".join(self.rng.choices(WORDS, k=length // 3 + 1))
        return text[:length] or "hi"


def run_lifecycle(
    ctx: RunContext,
    *,
    held: bool = False,
    scheduled_at: float | None = None,
) -> str | None:
    """One lifecycle, counted exactly once in ctx's accounting. Returns its failure class.

    Cut short by the run's end (GreenletExit, StopUser), it counts as interrupted and
    the exception goes on."""
    acct = ctx.results.accounting
    acct.started += 1
    errors: list[str] = []

    def sink(sample: PhaseSample) -> None:
        ctx.results.record(sample)
        if not sample.ok and sample.error:
            errors.append(sample.error)
        elif sample.phase == "ready" and sample.attempt == 0:
            acct.ready += 1

    session = ClientSession(ctx.settings.session_settings(reconnect=held), ctx.clock, sink)
    conn = Connection(session, ctx.tls)
    url = ctx.settings.session_url(session.session_id)
    counted = False
    try:
        if conn.open(url, at=scheduled_at) and conn.wait_ready():
            _converse(ctx, conn, url, held)
        conn.close()
        if held:  # a held session fails only when it could not come back
            failure = str(session.failure) if session.state is State.FAILED else None
        else:
            failure = errors[0] if errors else None
        if failure:
            acct.failed[failure] += 1
        else:
            acct.completed += 1
        counted = True
        return failure
    finally:
        acct.reconnects += session.counters.reconnect_count
        if not counted:
            acct.interrupted += 1
            conn.abort()


def _converse(ctx: RunContext, conn: Connection, url: str, held: bool) -> None:
    """Chats and heartbeats until the lifecycle's work is done (or, held, its duration ends)."""
    s, k, clock = conn.session, ctx.knobs, ctx.clock
    settings = ctx.settings
    limiter = RateLimiter(settings.rate_limit_requests, settings.rate_limit_window_ms / 1000)
    chats = None if held else k.chats_per_session
    duration = k.session_duration_s if held else 0.0
    end = clock.now() + duration if duration > 0 else float("inf")
    next_chat = clock.now() + (k.chat_interval_s if held else 0.0)
    sent = 0

    def not_ready() -> bool:
        return s.state is not State.READY

    while clock.now() < end:
        if s.state is State.RECONNECTING:
            _reconnect(conn, url)
            continue
        if s.state is not State.READY or (chats is not None and sent >= chats):
            return
        now = clock.now()
        wait = max(next_chat - now, limiter.wait(now))
        if wait > 0:
            conn.run_until(not_ready, min(wait, end - now))  # heartbeats go on meanwhile
            continue
        limiter.record(now)
        conn.chat(ctx.message(), typing=True)
        sent += 1
        conn.run_until(lambda: s.chats_in_flight == 0 or not_ready(), s.settings.chat_timeout_s + 1)
        if held:
            next_chat = clock.now() + k.chat_interval_s
        elif sent < (chats or 0):
            next_chat = clock.now() + ctx.rng.uniform(*k.think_time_s)


def _reconnect(conn: Connection, url: str) -> None:
    """One reconnect attempt when its backoff (and the circuit breaker) allow."""
    s = conn.session
    delay = (s.reconnect_at or 0.0) - s.clock.now()
    if delay > 0:
        time.sleep(delay)
    try:
        if conn.open(url):
            conn.wait_ready()
    except CircuitOpen as exc:
        time.sleep(max(0.0, exc.retry_at - s.clock.now()))
