"""The Locust user classes: `MIPTechUser`, the base a team's own locustfile builds on (see
harness/api.py), and the bundled users, built on it. `locustfile.py` imports these and the
plugin's hooks."""

from __future__ import annotations

import random

import gevent
from gevent.pool import Group
from locust import User, task

from harness.load.lifecycle import (
    MIPTechClient,
    RetryPolicy,
    RunContext,
    run_context,
    run_lifecycle,
)
from harness.load.scenario import Arrival


class MIPTechUser(User):
    """A simulated browser client of the MIPTech platform, for a team's own locustfile, as
    HttpUser is for HTTP: `self.client.session()` gives a Session whose `chat`, `wait`,
    `heartbeat`, `typing` and `close` are timed by the harness's one protocol state machine,
    and reach the same histograms, samples, Locust statistics and run record as the bundled
    users'. `self.ctx` is the run's shared context (settings, knobs, conversations, rng)."""

    abstract = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.ctx: RunContext = run_context(self.environment)
        self.retry = RetryPolicy(self.ctx.settings, self.ctx.rng)
        self.client = MIPTechClient(self.ctx, self.retry)

    def on_start(self) -> None:
        """Locust starts a second's worth of users (the spawn rate) in one batch: 100
        handshakes in the same millisecond stalled the harness's loop 10-40 ms each second,
        and hit the platform as no real arrivals would. Each user waits a random part of
        `start_spread_s`."""
        if self.ctx.knobs.start_spread_s > 0:
            gevent.sleep(self.ctx.rng.uniform(0, self.ctx.knobs.start_spread_s))

    def on_stop(self) -> None:
        # it may have cut off the lifecycles it was running: one, or as many as its script
        # ever held open at once
        self.ctx.users_stopped(self.client.most_open)


class LifecycleUser(MIPTechUser):
    """Loops short lifecycles: connect, 100 ms, auth, ready, a conversation, close; again."""

    def wait_time(self) -> float:
        """`pause_s` on average, uniform in [0.5, 1.5] x pause_s (as Locust's `between`):
        users do not reload in lockstep."""
        return self.ctx.rng.uniform(0.5, 1.5) * self.ctx.knobs.pause_s

    @task
    def lifecycle(self) -> None:
        run_lifecycle(self.ctx, retry=self.retry)


class HeldSessionUser(MIPTechUser):
    """Holds one session open: heartbeats, a chat every `chat_interval_s`, reconnects with the
    document's backoff and circuit breaker when dropped."""

    def wait_time(self) -> float:
        return 0.0

    @task
    def hold(self) -> None:
        run_lifecycle(self.ctx, held=True, retry=self.retry)


class ArrivalUser(MIPTechUser):
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
                lifecycles.spawn(run_lifecycle, ctx, scheduled_at=due)  # no retry wait
            lifecycles.join()
            gevent.sleep(3600)  # the schedule is done; the shape ends the run
        finally:
            ctx.users_stopped(len(lifecycles))  # each one in flight may be cut off
            lifecycles.kill(block=True)  # cut off by the run's end: counted as interrupted
