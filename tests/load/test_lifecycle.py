"""Every lifecycle ends in exactly one class, against the real reference platform."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
from dataclasses import replace

import gevent
import pytest

from harness.config import Settings
from harness.load.health import HealthMonitor
from harness.load.lifecycle import WORDS, Outcome, RetryPolicy, RunContext, run_lifecycle
from harness.load.scenario import Knobs
from harness.record.results import ProcessResults
from tests.conftest import ROOT, RunningPlatform, free_port


def context(url: str, **knobs: object) -> RunContext:
    settings = Settings(ws_url=url, auth_delay_ms=10)
    return RunContext(
        settings,
        Knobs(**knobs),
        ProcessResults("local"),
        HealthMonitor(),  # type: ignore[arg-type]
    )


def identity(ctx: RunContext) -> dict[str, int]:
    a = ctx.results.accounting.as_dict()
    assert a["in_flight"] == 0, a
    return a


def test_an_exception_of_ours_is_a_harness_error_counted_and_logged_once(
    fast_platform: RunningPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = context(fast_platform.base)

    def broken(conversation: object) -> list[object]:
        raise ZeroDivisionError("a bug of ours")

    ctx.turns = broken  # type: ignore[method-assign,assignment]
    with caplog.at_level(logging.ERROR, logger="harness"):
        outcomes = [run_lifecycle(ctx) for _ in range(3)]
    assert outcomes == [Outcome("harness_error", True)] * 3
    a = identity(ctx)
    assert a["failed"] == {"harness_error": 3} and a["harness_errors"] == {"ZeroDivisionError": 3}
    logged = [r for r in caplog.records if "ZeroDivisionError" in r.getMessage()]
    assert len(logged) == 1 and "a bug of ours" in logged[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)  # one line, no traceback


def test_a_close_with_1011_between_chats_fails_the_lifecycle(
    platform_factory: object,
) -> None:
    """Nothing was in flight, but the platform closed with an error: not 'completed'."""
    p = platform_factory("--profile", "fast", "--set", "server_error_rate=1")  # type: ignore[operator]
    ctx = context(p.base, chats_per_session=0)
    outcome = run_lifecycle(ctx)
    assert outcome.failure == "server_error"
    assert identity(ctx)["failed"] == {"server_error": 1}


STOP_SCRIPT = """
from gevent import monkey; monkey.patch_all()
import json, sys, gevent
from harness.config import Settings
from harness.load.health import HealthMonitor
from harness.load.lifecycle import RunContext, run_lifecycle
from harness.load.scenario import Knobs
from harness.record.results import ProcessResults

settings = Settings(ws_url=sys.argv[1], ready_timeout_ms=float(sys.argv[2]), auth_delay_ms=10)
ctx = RunContext(settings, Knobs(chats_per_session=2, think_time_s=(5.0, 5.0)),
                 ProcessResults("local"), HealthMonitor())
greenlet = gevent.spawn(run_lifecycle, ctx)
gevent.sleep(float(sys.argv[3]))
stop = KeyboardInterrupt if sys.argv[4:] == ["ctrl-c"] else gevent.GreenletExit
try:
    greenlet.kill(stop, block=True)  # as Locust stops a user, or as a Ctrl-C lands in it
except KeyboardInterrupt:
    pass  # gevent hands a KeyboardInterrupt on to the main greenlet
print(json.dumps(ctx.results.accounting.as_dict()))
"""


def stopped_lifecycle(
    url: str, ready_timeout_ms: float, stop_at_s: float, *how: str
) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", STOP_SCRIPT, url, str(ready_timeout_ms), str(stop_at_s), *how],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    accounting: dict[str, object] = json.loads(result.stdout)
    assert accounting["in_flight"] == 0
    return accounting


def test_a_stop_interrupts_a_lifecycle_in_flight(fast_platform: RunningPlatform) -> None:
    a = stopped_lifecycle(fast_platform.base, 10_000, 0.5)  # in its 5 s think time
    assert (a["started"], a["interrupted"], a["failed"], a["completed"]) == (1, 1, {}, 0)


def test_a_ctrl_c_landing_in_a_lifecycle_interrupts_it_and_explains_it(
    fast_platform: RunningPlatform,
) -> None:
    """Ctrl-C can land in any greenlet: the lifecycle it hits still ends in one class."""
    a = stopped_lifecycle(fast_platform.base, 10_000, 0.5, "ctrl-c")
    assert (a["started"], a["interrupted"], a["interrupted_unexplained"]) == (1, 1, 0)


def test_a_lifecycle_that_failed_before_the_stop_counts_as_failed() -> None:
    """A ready timeout near the run's end is a failure, not an interruption: here the
    platform never answers auth nor the close, and the stop comes during the close."""
    from tests.faults.hostile import hostile_server

    with hostile_server("no_ready", echo_close=False) as url:
        a = stopped_lifecycle(url, 200, 0.6)  # timed out at 0.2 s; waits for the close until 2.2 s
    assert (a["started"], a["interrupted"], a["failed"]) == (1, 0, {"ready_timeout": 1})


def test_a_held_session_that_met_a_protocol_error_fails_though_it_came_back() -> None:
    """It reconnects after each broken frame, but the platform broke the protocol: the
    lifecycle fails with protocol_error, which the error budget sees."""
    from tests.faults.hostile import hostile_server

    with hostile_server("bad_after_ready") as url:
        ctx = context(url, session_duration_s=1.0)
        ctx.settings = replace(ctx.settings, reconnect_delay_ms=50)
        outcome = run_lifecycle(ctx, held=True)
    assert outcome.failure == "protocol_error"
    a = identity(ctx)
    assert a["failed"] == {"protocol_error": 1} and a["reconnects"] >= 1


def test_retry_policy_backs_off_and_opens_the_breaker() -> None:
    policy = RetryPolicy(Settings(), random.Random(1))
    failed = Outcome("connection_refused", False)
    waits = [policy.wait_after(failed, now=float(t)) for t in range(3)]
    assert waits[:2] == [1.0, 2.0]
    assert waits[2] == pytest.approx(60.0)  # third failure in a row: the breaker opens
    assert policy.wait_after(Outcome(None, True), now=100.0) == 0.0
    assert policy.wait_after(failed, now=101.0) == 1.0  # reset by the success


def test_a_dead_platform_gets_a_few_attempts_not_a_flood() -> None:
    ctx = context(f"ws://127.0.0.1:{free_port()}")
    policy = RetryPolicy(ctx.settings, ctx.rng)
    attempts = 0
    deadline = ctx.clock.now() + 3.5
    while ctx.clock.now() < deadline:
        outcome = run_lifecycle(ctx)
        attempts += 1
        gevent.sleep(min(policy.wait_after(outcome, ctx.clock.now()), deadline - ctx.clock.now()))
    assert attempts == 3  # at 0, 1 and 3 s; then the breaker holds it for 60 s
    assert identity(ctx)["failed"] == {"connection_refused": 3}


@pytest.mark.parametrize("length", [1, 2, 80, 1000, 4000])
def test_filler_is_exactly_long_starts_at_a_word_and_varies(length: int) -> None:
    ctx = context("ws://127.0.0.1:1", message_length=length)
    texts = [ctx.filler(length) for _ in range(200)]
    assert all(len(t) == length for t in texts)
    words = set(" ".join(WORDS))
    assert all(set(t) <= words and not t.startswith(" ") for t in texts)
    assert len(set(texts)) > {1: 1, 2: 5}.get(length, 50)
    assert len(ctx.filler(10**6)) == ctx.settings.max_message_length  # cut to the limit


def test_sessions_share_what_the_settings_give_until_the_settings_change() -> None:
    ctx = context("ws://127.0.0.1:1")
    first = ctx.session_settings(False)
    assert ctx.session_settings(False) is first and ctx.tls is ctx.tls
    assert ctx.session_settings(True).reconnect and not first.reconnect
    ctx.settings = replace(ctx.settings, tenant_id="other", tls_verify=False)  # test_start
    assert ctx.session_settings(False).tenant_id == "other" and not ctx.tls.verify
