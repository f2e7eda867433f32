"""Phase samples as Locust requests: Locust's statistics get the same figures whether the
sample goes straight to them (nobody else listens) or through the request event."""

from __future__ import annotations

from typing import Any

from locust import User
from locust.env import Environment

from harness.load.coordinator import _fire_request
from harness.protocol.session import PhaseSample

SAMPLES = [
    PhaseSample("s1", "connect", 0.0, 1500, True),
    PhaseSample("s1", "ready", 0.0, 101_250, True),
    PhaseSample("s2", "connect", 0.0, 900, True),
    PhaseSample("s2", "ready", 0.0, 30_000, False, "ready_timeout"),
]


class Nobody(User):
    abstract = True


def stats_after(
    listener: bool, before_runner: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    environment = Environment(user_classes=[Nobody])
    heard: list[dict[str, Any]] = []
    if before_runner:  # a locustfile's module-level listener: added before Locust's own
        environment.events.request.add_listener(lambda **kwargs: heard.append(kwargs))
    environment.create_local_runner()
    dispatched = []
    event = environment.events.request
    event.fire = lambda **kwargs: (dispatched.append(1), type(event).fire(event, **kwargs))  # type: ignore[method-assign]
    fire = _fire_request(environment)
    if listener:  # a plugin's or a locustfile's, added after the harness wired itself
        environment.events.request.add_listener(lambda **kwargs: heard.append(kwargs))
    for sample in SAMPLES:
        fire(sample)
    assert len(dispatched) == (len(SAMPLES) if listener or before_runner else 0)
    stats = environment.stats
    figures = {
        name: (e.num_requests, e.num_failures, e.total_response_time, e.max_response_time)
        for (name, _), e in stats.entries.items()
    }
    figures["errors"] = sorted((e.name, str(e.error), e.occurrences) for e in stats.errors.values())
    return figures, heard


def test_locust_gets_the_same_statistics_straight_or_through_the_event() -> None:
    straight, _ = stats_after(listener=False)
    through, _ = stats_after(listener=True)
    assert straight == through
    assert straight["connect"] == (2, 0, 2.4, 1.5)
    assert straight["ready"] == (2, 1, 131.25, 101.25)
    assert straight["errors"] == [("ready", "ready_timeout", 1)]


def test_another_listener_hears_every_sample() -> None:
    _, heard = stats_after(listener=True)
    assert [(h["name"], h["response_time"], h["exception"] is None) for h in heard] == [
        ("connect", 1.5, True), ("ready", 101.25, True), ("connect", 0.9, True),
        ("ready", 30.0, False),
    ]  # fmt: skip


def test_a_listener_added_before_locusts_own_hears_every_sample_too() -> None:
    straight, _ = stats_after(listener=False)
    through, heard = stats_after(listener=False, before_runner=True)
    assert straight == through and len(heard) == len(SAMPLES)
