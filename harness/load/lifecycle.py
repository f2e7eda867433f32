"""One simulated client's lifecycle, as the Locust users run it (no Locust imports here).

connect -> the 100 ms auth delay -> auth -> connection_ready -> chats (typing indicator, the
client's own rate limit and length limit respected) -> heartbeats -> close. Held sessions
reconnect with the document's backoff and circuit breaker when dropped.

Every lifecycle started ends in exactly one class: completed, failed (its error class;
`harness_error` for an exception of ours) or interrupted (cut off by a stop, and nothing
else).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent import GreenletExit

from harness.config import Settings
from harness.errors import ErrorClass
from harness.load.health import HealthMonitor
from harness.load.scenario import Knobs, Scenario
from harness.policies import Backoff, CircuitBreaker, RateLimiter
from harness.protocol.clock import MonotonicClock
from harness.protocol.session import CircuitOpen, ClientSession, PhaseSample, State
from harness.record.results import ProcessResults
from harness.transport import Connection, TlsOptions

log = logging.getLogger("harness")

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
    clock: MonotonicClock = field(default_factory=MonotonicClock)
    rng: random.Random = field(default_factory=random.Random)

    @property
    def tls(self) -> TlsOptions:
        return TlsOptions(self.settings.tls_verify, self.settings.ca_bundle)

    def message(self) -> str:
        length = min(self.knobs.message_length, self.settings.max_message_length)
        text = " ".join(self.rng.choices(WORDS, k=length // 3 + 1))
        return text[:length] or "hi"

    def harness_error(self, name: str, message: str, where: str = "") -> None:
        """Count one of our own failures by name; the first of each is logged, in one line."""
        seen = self.results.accounting.harness_errors  # this process's, since it started
        seen[name] += 1
        if seen[name] == 1:
            log.error(
                "harness_error: %s: %s%s (a fault of the harness; the lifecycle counts as "
                "failed with harness_error, and further %s are only counted in run.json)",
                name,
                message,
                where,
                name,
            )

    def users_stopped(self, lifecycles: int = 1) -> None:
        """A stopped user could have cut off this many lifecycles: the bound on interrupted."""
        self.results.accounting.interrupted_explained += lifecycles


def run_context(environment: Any) -> RunContext:
    """The RunContext of the process that runs `environment` (set by the coordinator)."""
    ctx = getattr(environment, "harness_context", None)
    if ctx is None:
        raise RuntimeError("the harness plugin was not initialised (import it in the locustfile)")
    return ctx


@dataclass(frozen=True)
class Outcome:
    failure: str | None  # the error class it failed with, None if it completed
    ready: bool  # it reached connection_ready


def run_lifecycle(
    ctx: RunContext,
    *,
    held: bool = False,
    scheduled_at: float | None = None,
) -> Outcome:
    """One lifecycle, counted exactly once in ctx's accounting.

    Cut short by a stop (GreenletExit; a Ctrl-C landing here) it counts as interrupted,
    unless it had already failed, and the exception goes on. Any other exception is ours:
    the lifecycle fails with harness_error and the exception is counted, not raised."""
    acct = ctx.results.accounting
    acct.started += 1
    errors: list[str] = []
    ready = False
    session: ClientSession | None = None
    conn: Connection | None = None

    def sink(sample: PhaseSample) -> None:
        nonlocal ready
        ctx.results.record(sample)
        if not sample.ok and sample.error:
            errors.append(sample.error)
        elif sample.phase == "ready":
            ready = True
            if sample.attempt == 0:
                acct.ready += 1

    try:
        try:
            session = ClientSession(ctx.settings.session_settings(reconnect=held), ctx.clock, sink)
            conn = Connection(session, ctx.tls)
            url = ctx.settings.session_url(session.session_id)
            if conn.open(url, at=scheduled_at) and conn.wait_ready():
                _converse(ctx, conn, url, held)
            conn.close()
        # Each handler counts the lifecycle before anything that can yield (closing the
        # socket, logging): a second kill arriving there must not leave it uncounted.
        except (GreenletExit, KeyboardInterrupt) as stop:  # Locust kills a user; Ctrl-C
            failure = _failure(session, errors, held)
            if failure:
                acct.failed[failure] += 1
            else:
                acct.interrupted += 1
            if isinstance(stop, KeyboardInterrupt):  # no user stop to explain this one
                acct.interrupted_explained += 1
            _abort_quietly(conn)
            raise
        except (Exception, gevent.Timeout) as exc:
            acct.failed[ErrorClass.HARNESS_ERROR] += 1
            _abort_quietly(conn)
            frame = traceback.extract_tb(exc.__traceback__)[-1:]
            where = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
            ctx.harness_error(type(exc).__name__, str(exc), where)
            return Outcome(str(ErrorClass.HARNESS_ERROR), ready)
        failure = _failure(session, errors, held)
        if failure == ErrorClass.HARNESS_ERROR:  # the transport's, e.g. out of descriptors
            ctx.harness_error("transport", conn.detail or "a connection attempt failed")
        if failure:
            acct.failed[failure] += 1
        else:
            acct.completed += 1
        return Outcome(failure, ready)
    finally:
        if session is not None:
            acct.reconnects += session.counters.reconnect_count
            acct.protocol_violations.update(
                {k: n for k, n in session.counters.violations().items() if n}
            )


ALWAYS_FAIL = frozenset({ErrorClass.CHAT_TIMEOUT, ErrorClass.REJECTED, ErrorClass.HARNESS_ERROR})
"""Failed phases that fail even a held session, which survives lost connections."""


def _failure(session: ClientSession | None, errors: list[str], held: bool) -> str | None:
    """How a lifecycle failed, if it did. A short one: by its first failed phase, or a
    connection lost with nothing in flight (a 1011 close between chats). A held session
    survives lost connections it comes back from; it fails when it could not come back,
    when the platform broke the protocol, or when a chat was not answered."""
    if session is None:
        return None
    if held:
        if session.counters.protocol_errors:
            return str(ErrorClass.PROTOCOL_ERROR)
        answered_wrong = next((e for e in errors if e in ALWAYS_FAIL), None)
        if answered_wrong:
            return answered_wrong
        return str(session.failure) if session.state is State.FAILED else None
    if errors:
        return errors[0]
    return str(session.failure) if session.failure is not None else None


def _abort_quietly(conn: Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):  # the socket is dropped either way
            conn.abort()


class RetryPolicy:
    """When a looping user's lifecycle could not get ready, it waits as the document's client
    does before trying again: `reconnectDelay` doubling up to `maxReconnectDelay`, and the
    circuit breaker (`circuitBreakerThreshold` failures in a row open it for
    `circuitBreakerTimeout`). Without this, 20 users made 99,284 attempts in 8 s against a
    dead platform."""

    def __init__(self, settings: Settings, rng: random.Random) -> None:
        self.backoff = Backoff(
            settings.reconnect_delay_ms / 1000,
            settings.max_reconnect_delay_ms / 1000,
            jitter=settings.reconnect_jitter,
            rng=rng,
        )
        self.breaker = CircuitBreaker(
            settings.circuit_breaker_threshold, settings.circuit_breaker_timeout_ms / 1000
        )
        self.failures = 0

    def wait_after(self, outcome: Outcome, now: float) -> float:
        """Seconds to wait before the next lifecycle."""
        if outcome.ready or outcome.failure is None:
            self.failures = 0
            self.breaker.record_success()
            return 0.0
        self.failures += 1
        self.breaker.record_failure(now)
        delay = self.backoff.delay(min(self.failures - 1, 30))
        return max(delay, self.breaker.retry_at(now) - now)


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
