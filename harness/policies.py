"""The document's client policies as pure objects: no I/O, time passed in, randomness injected.

Defaults are the document's `createWebSocketConfig` values.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from harness.protocol.messages import DISCOVERY_ENDPOINTS, ENDPOINT


@dataclass
class Backoff:
    """Reconnect delays: `reconnectDelay` doubling per attempt up to `maxReconnectDelay`.

    Jitter is off by default, because the reconnect-storm scenario must reproduce the real
    client, which has none. With `jitter=j`, a delay d becomes uniform in [d*(1-j), d].
    """

    base_s: float = 1.0
    cap_s: float = 30.0
    max_attempts: int = 5
    jitter: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt `attempt` (0 = first reconnect)."""
        d = min(self.base_s * 2**attempt, self.cap_s)
        return d * (1 - self.jitter * self.rng.random()) if self.jitter else d

    def allows(self, attempt: int) -> bool:
        return attempt < self.max_attempts


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


@dataclass
class CircuitBreaker:
    """`threshold` consecutive failures open it for `timeout_s`; then one trial is let through."""

    threshold: int = 3
    timeout_s: float = 60.0
    failures: int = 0
    opened_at: float | None = None
    _state: BreakerState = BreakerState.CLOSED

    def state(self, now: float) -> BreakerState:
        if self._state is BreakerState.OPEN and now >= self.retry_at_open():
            self._state = BreakerState.HALF_OPEN
        return self._state

    def allows(self, now: float) -> bool:
        return self.state(now) is not BreakerState.OPEN

    def retry_at_open(self) -> float:
        return (self.opened_at or 0.0) + self.timeout_s

    def retry_at(self, now: float) -> float:
        """When a connection may next be tried (now, unless the breaker is open)."""
        return self.retry_at_open() if self.state(now) is BreakerState.OPEN else now

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._state = BreakerState.CLOSED

    def record_failure(self, now: float) -> None:
        self.failures += 1
        if self.state(now) is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self._state = BreakerState.OPEN
            self.opened_at = now


@dataclass
class Heartbeat:
    """A `ping` every `interval_s` while connected."""

    interval_s: float = 30.0
    next_due: float | None = None

    def start(self, now: float) -> None:
        self.next_due = now + self.interval_s

    def stop(self) -> None:
        self.next_due = None

    def due(self, now: float) -> bool:
        return self.next_due is not None and now >= self.next_due

    def sent(self, now: float) -> None:
        self.next_due = now + self.interval_s


@dataclass
class RateLimiter:
    """The client's own limit: at most `requests` sends in any `window_s` (sliding window)."""

    requests: int = 10
    window_s: float = 60.0
    _sent: list[float] = field(default_factory=list)  # a few; an empty deque is 600 bytes

    def wait(self, now: float) -> float:
        """Seconds until one more send is allowed (0.0 when allowed now)."""
        while self._sent and self._sent[0] <= now - self.window_s:
            del self._sent[0]
        if len(self._sent) < self.requests:
            return 0.0
        return self._sent[0] + self.window_s - now

    def record(self, now: float) -> None:
        self._sent.append(now)


@dataclass(frozen=True)
class EndpointResult:
    endpoint: str
    success: bool
    detail: str  # "Connection successful", "Timeout", or the error


def choose_endpoint(
    results: Iterable[EndpointResult], priority: Sequence[str] = DISCOVERY_ENDPOINTS
) -> str:
    """The first successful endpoint in priority order; the document's fallback otherwise."""
    ok = {r.endpoint for r in results if r.success}
    return next((e for e in priority if e in ok), ENDPOINT)
