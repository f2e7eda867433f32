import random

import pytest

from harness.policies import (
    Backoff,
    BreakerState,
    CircuitBreaker,
    EndpointResult,
    Heartbeat,
    RateLimiter,
    choose_endpoint,
)


def test_backoff_is_the_documents_doubling_to_a_cap() -> None:
    b = Backoff()
    assert [b.delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert [b.allows(n) for n in range(6)] == [True] * 5 + [False]


def test_backoff_jitter_is_off_by_default_and_bounded_when_on() -> None:
    assert Backoff().delay(3) == Backoff().delay(3) == 8
    b = Backoff(jitter=0.5, rng=random.Random(7))
    delays = [b.delay(3) for _ in range(200)]
    assert all(4 <= d <= 8 for d in delays) and len(set(delays)) > 100


def test_circuit_breaker_cycle() -> None:
    cb = CircuitBreaker(threshold=3, timeout_s=60)
    cb.record_failure(0)
    cb.record_failure(1)
    assert cb.allows(1) and cb.state(1) is BreakerState.CLOSED
    cb.record_failure(2)
    assert cb.state(2) is BreakerState.OPEN and not cb.allows(61.9)
    assert cb.retry_at(10) == 62
    assert cb.state(62) is BreakerState.HALF_OPEN and cb.allows(62)
    cb.record_failure(62)  # the trial failed: open again at once
    assert cb.state(63) is BreakerState.OPEN and cb.retry_at(63) == 122
    cb.record_success()
    assert cb.state(63) is BreakerState.CLOSED and cb.failures == 0


def test_success_resets_consecutive_failures() -> None:
    cb = CircuitBreaker(threshold=3)
    for t in range(2):
        cb.record_failure(t)
    cb.record_success()
    cb.record_failure(5)
    cb.record_failure(6)
    assert cb.state(6) is BreakerState.CLOSED


def test_heartbeat_schedule() -> None:
    hb = Heartbeat(interval_s=30)
    assert not hb.due(1e9)
    hb.start(10)
    assert not hb.due(39.99) and hb.due(40)
    hb.sent(41)
    assert hb.next_due == 71
    hb.stop()
    assert not hb.due(100)


def test_rate_limiter_sliding_window() -> None:
    rl = RateLimiter(requests=10, window_s=60)
    for t in range(10):
        assert rl.wait(t) == 0
        rl.record(t)
    assert rl.wait(10) == pytest.approx(50)  # the first send leaves the window at t=60
    assert rl.wait(60) == 0


def test_choose_endpoint_priority_and_fallback() -> None:
    def results(*ok: str) -> list[EndpointResult]:
        names = ["/api/ws", "/ws", "/api/v1/ws", "/api/v1/ws/chat"]
        return [EndpointResult(e, e in ok, "") for e in names]

    assert choose_endpoint(results("/ws", "/api/v1/ws")) == "/api/v1/ws"
    assert choose_endpoint(results("/api/ws", "/ws")) == "/ws"
    assert choose_endpoint(results()) == "/api/v1/ws/chat"
