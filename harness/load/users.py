"""The Locust user classes. `locustfile.py` imports these and the plugin's hooks."""

from __future__ import annotations

import random

import gevent
from gevent.pool import Group
from locust import User, task

from harness.load.lifecycle import run_lifecycle
from harness.load.scenario import Arrival
from harness.load.state import context


def spread_start() -> None:
    """Locust starts a second's worth of users (the spawn rate) in one batch: 100 handshakes
    in the same millisecond stalled the harness's loop 10-40 ms each second, and hit the
    platform as no real arrivals would. Each user waits a random part of `start_spread_s`."""
    ctx = context()
    if ctx.knobs.start_spread_s > 0:
        gevent.sleep(ctx.rng.uniform(0, ctx.knobs.start_spread_s))


class LifecycleUser(User):
    """Loops short lifecycles: connect, 100 ms, auth, ready, chats, close; then again."""

    def on_start(self) -> None:
        spread_start()

    def wait_time(self) -> float:
        """`pause_s` on average, uniform in [0.5, 1.5] x pause_s (as Locust's `between`):
        users do not reload in lockstep."""
        ctx = context()
        return ctx.rng.uniform(0.5, 1.5) * ctx.knobs.pause_s

    @task
    def lifecycle(self) -> None:
        run_lifecycle(context())


class HeldSessionUser(User):
    """Holds one session open: heartbeats, a chat every `chat_interval_s`, reconnects with the
    document's backoff and circuit breaker when dropped."""

    def on_start(self) -> None:
        spread_start()

    def wait_time(self) -> float:
        return 0.0

    @task
    def hold(self) -> None:
        run_lifecycle(context(), held=True)


class ArrivalUser(User):
    """Open model: starts lifecycles on a schedule (constant or Poisson) whatever completes.

    Each lifecycle's phases are measured from its scheduled start, so a late start shows in
    its figures; how late the scheduler was is recorded as harness health."""

    def wait_time(self) -> float:
        return 0.0

    @task
    def schedule(self) -> None:
        ctx = context()
        arrival = ctx.scenario.arrival if ctx.scenario else None
        arrival = arrival or Arrival(rate=10.0, duration_s=60.0)
        rate = arrival.rate / max(arrival.schedulers, 1)
        rng = random.Random(arrival.seed)
        lifecycles = Group()
        start, offset, n = ctx.clock.now(), 0.0, 0
        try:
            while True:  # offsets: constant i/rate (no drift), or Poisson inter-arrival gaps
                offset = (
                    n / rate if arrival.process == "constant" else offset + rng.expovariate(rate)
                )
                n += 1
                if offset >= arrival.duration_s:
                    break
                due = start + offset
                delay = due - ctx.clock.now()
                if delay > 0:
                    gevent.sleep(delay)
                ctx.health.record_schedule_lag(ctx.clock.now() - due)
                lifecycles.spawn(run_lifecycle, ctx, scheduled_at=due)
            lifecycles.join()
            gevent.sleep(3600)  # the schedule is done; the shape ends the run
        finally:
            lifecycles.kill(block=True)  # cut off by the run's end: counted as interrupted
