"""The Locust user classes. `locustfile.py` imports these and the plugin's hooks."""

from __future__ import annotations

import random

import gevent
from gevent.pool import Group
from locust import User, task

from harness.load.lifecycle import RetryPolicy, RunContext, run_context, run_lifecycle
from harness.load.scenario import Arrival


class HarnessUser(User):
    """What the harness's users share: their process's RunContext, a start spread out over
    `start_spread_s`, and the document's retry policy after a lifecycle that never got
    ready."""

    abstract = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.ctx: RunContext = run_context(self.environment)
        self.retry = RetryPolicy(self.ctx.settings, self.ctx.rng)

    def on_start(self) -> None:
        """Locust starts a second's worth of users (the spawn rate) in one batch: 100
        handshakes in the same millisecond stalled the harness's loop 10-40 ms each second,
        and hit the platform as no real arrivals would. Each user waits a random part of
        `start_spread_s`."""
        if self.ctx.knobs.start_spread_s > 0:
            gevent.sleep(self.ctx.rng.uniform(0, self.ctx.knobs.start_spread_s))

    def on_stop(self) -> None:
        self.ctx.users_stopped(1)  # it may have cut off the one lifecycle it was running

    def lifecycle_then_wait(self, held: bool) -> None:
        outcome = run_lifecycle(self.ctx, held=held)
        wait = self.retry.wait_after(outcome, self.ctx.clock.now())
        if wait > 0:
            gevent.sleep(wait)


class LifecycleUser(HarnessUser):
    """Loops short lifecycles: connect, 100 ms, auth, ready, chats, close; then again."""

    def wait_time(self) -> float:
        """`pause_s` on average, uniform in [0.5, 1.5] x pause_s (as Locust's `between`):
        users do not reload in lockstep."""
        return self.ctx.rng.uniform(0.5, 1.5) * self.ctx.knobs.pause_s

    @task
    def lifecycle(self) -> None:
        self.lifecycle_then_wait(held=False)


class HeldSessionUser(HarnessUser):
    """Holds one session open: heartbeats, a chat every `chat_interval_s`, reconnects with the
    document's backoff and circuit breaker when dropped."""

    def wait_time(self) -> float:
        return 0.0

    @task
    def hold(self) -> None:
        self.lifecycle_then_wait(held=True)


class ArrivalUser(HarnessUser):
    """Open model: starts lifecycles on a schedule (constant or Poisson) whatever completes.

    Each lifecycle's phases are measured from its scheduled start, so a late start shows in
    its figures; how late the scheduler was is recorded as harness health."""

    def on_start(self) -> None:
        pass  # the schedule is the arrival pattern

    def on_stop(self) -> None:
        pass  # the schedule counts the lifecycles it cuts off itself

    def wait_time(self) -> float:
        return 0.0

    @task
    def schedule(self) -> None:
        ctx = self.ctx
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
            ctx.users_stopped(len(lifecycles))  # each one in flight may be cut off
            lifecycles.kill(block=True)  # cut off by the run's end: counted as interrupted
