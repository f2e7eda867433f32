"""The scripting API (harness/api.py) against the real reference platform: a Session's
replies are the run record's own figures, nothing the platform does raises, and each
lifecycle is counted once whatever the script does."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from locust.exception import StopUser

from harness.config import Settings
from harness.conversations import Conversation, Turn
from harness.load.health import HealthMonitor
from harness.load.lifecycle import MIPTechClient, RunContext, Session
from harness.load.scenario import Knobs
from harness.protocol.session import PhaseSample
from harness.record.results import ProcessResults
from tests.conftest import RunningPlatform, start_platform, stop_platform


class Recorded(ProcessResults):
    """The process's timing sink, keeping every sample for the test to read."""

    def __init__(self) -> None:
        super().__init__("local")
        self.samples: list[PhaseSample] = []

    def record(self, sample: PhaseSample) -> None:
        super().record(sample)
        self.samples.append(sample)


def context(url: str, **settings: object) -> RunContext:
    return RunContext(
        Settings(ws_url=url, auth_delay_ms=10, **settings),  # type: ignore[arg-type]
        Knobs(),
        Recorded(),
        HealthMonitor(),  # type: ignore[arg-type]
    )


def samples(ctx: RunContext, phase: str) -> list[PhaseSample]:
    assert isinstance(ctx.results, Recorded)
    return [s for s in ctx.results.samples if s.phase == phase]


def accounting(ctx: RunContext) -> dict[str, object]:
    a = ctx.results.accounting.as_dict()
    assert a["in_flight"] == 0, a
    return a


@pytest.fixture(scope="module")
def streaming() -> Iterator[RunningPlatform]:
    """Replies of 4 chunks, 20 ms apart, the first 30 ms after the chat."""
    p = start_platform(
        "--profile",
        "fast",
        "--set",
        "chat_first_ms=30",
        "--set",
        "chat_chunks=4",
        "--set",
        "chat_chunk_gap_ms=20",
    )
    yield p
    stop_platform(p)


def test_a_reply_is_the_run_records_own_figures(streaming: RunningPlatform) -> None:
    ctx = context(streaming.base)
    with Session(ctx) as s:
        assert s.ready
        reply = s.chat("how much is the team plan", name="pricing_question")
    assert reply.ok and reply.error is None and reply.step == "pricing_question"
    assert len(reply.chunks) == 4 and reply.text == "".join(reply.chunks)
    assert "how much is the team plan" in reply.text
    # the same numbers as the samples (which are whole microseconds of the same instants)
    (first,) = samples(ctx, "chat_first")
    (complete,) = samples(ctx, "chat_complete")
    gaps = samples(ctx, "chat_gap")
    assert reply.first_ms == pytest.approx(first.duration_us / 1000, abs=0.001)
    assert reply.complete_ms == pytest.approx(complete.duration_us / 1000, abs=0.001)
    assert list(reply.gaps_ms) == pytest.approx([g.duration_us / 1000 for g in gaps], abs=0.001)
    assert len(gaps) == 3 and all(g.step == "pricing_question" for g in [first, complete, *gaps])
    assert complete.chunks == 4
    assert reply.first_ms >= 29 and all(g >= 19 for g in reply.gaps_ms)
    # the step's own series, besides the phase's
    table = {name for name in ctx.results.take_delta()["hist"]}
    assert {"chat_complete", "chat_complete{step:pricing_question}"} <= table
    assert accounting(ctx)["completed"] == 1


def test_heartbeat_typing_wait_and_close(fast_platform: RunningPlatform) -> None:
    ctx = context(fast_platform.base)
    with Session(ctx) as s:
        s.typing()
        s.typing(False)
        rtt = s.heartbeat()
        assert rtt is not None and rtt > 0
        assert s.wait(0.05) is True
        s.close()
        assert not s.ready and s.wait(0.01) is False
        late = s.chat("anyone there?")
    assert (late.ok, late.error, late.text) == (False, "not_sent", "")
    (beat,) = samples(ctx, "heartbeat")
    assert beat.ok and beat.duration_us / 1000 == pytest.approx(rtt, abs=0.001)
    assert samples(ctx, "chat_complete") == []  # nothing sent, nothing recorded
    assert accounting(ctx)["completed"] == 1


def test_a_session_that_never_gets_ready_sends_nothing_and_fails_once() -> None:
    ctx = context("ws://127.0.0.1:9")  # nothing listens there
    with Session(ctx) as s:
        assert not s.ready
        reply = s.chat("hello")
        assert s.heartbeat() is None
    assert reply.error == "not_sent"
    a = accounting(ctx)
    assert a["failed"] == {"connection_refused": 1} and a["started"] == 1


def test_a_rejected_chat_is_a_reply_with_its_error_not_an_exception(
    fast_platform: RunningPlatform,
) -> None:
    ctx = context(fast_platform.base, max_message_length=8000)  # the platform allows 4000
    with Session(ctx) as s:
        reply = s.chat("x" * 4001, name="too_long")
        after = s.chat("short one")
    assert (reply.ok, reply.error, reply.step) == (False, "rejected", "too_long")
    assert after.ok  # the session goes on
    assert accounting(ctx)["failed"] == {"rejected": 1}


def test_the_clients_rate_limit_makes_chat_wait(fast_platform: RunningPlatform) -> None:
    ctx = context(fast_platform.base, rate_limit_requests=2, rate_limit_window_ms=400)
    with Session(ctx) as s:
        replies = [s.chat(f"m{i}") for i in range(3)]
    assert all(r.ok for r in replies)
    starts = [x.start for x in samples(ctx, "chat_complete")]
    assert starts[2] - starts[0] >= 0.39  # the third waited for the window, not refused


def test_an_exception_in_the_script_fails_its_lifecycle_once_and_goes_no_further(
    fast_platform: RunningPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = context(fast_platform.base)
    with caplog.at_level(logging.ERROR, logger="harness"):
        for _ in range(2):
            with Session(ctx) as s:
                s.chat("hi")
                {}["missing"]
    a = accounting(ctx)
    assert a["failed"] == {"harness_error": 2} and a["harness_errors"] == {"KeyError": 2}
    logged = [r.getMessage() for r in caplog.records if "KeyError" in r.getMessage()]
    assert len(logged) == 1 and "test_api.py:" in logged[0]  # where, in one line, once


def test_locusts_control_flow_passes_through_and_the_lifecycle_still_counts(
    fast_platform: RunningPlatform,
) -> None:
    ctx = context(fast_platform.base)
    with pytest.raises(StopUser), Session(ctx) as s:
        assert s.chat("hi").ok
        raise StopUser()
    assert accounting(ctx)["completed"] == 1


def test_a_session_of_a_tenant_is_labelled_and_asks_for_it(
    platform_factory: object,
) -> None:
    only_acme = platform_factory("--profile", "fast", "--tenant", "acme")  # type: ignore[operator]
    ctx = context(only_acme.base)
    with Session(ctx, tenant="acme") as s:
        assert s.ready and s.chat("hi").ok
    with Session(ctx) as s:  # the configured tenant_id: refused by this platform
        assert not s.ready
    labelled = [x for x in ctx.results.samples if x.tenant == "acme"]  # type: ignore[attr-defined]
    assert {x.phase for x in labelled} >= {"connect", "ready", "chat_complete"}
    assert all(x.tenant is None for x in ctx.results.samples if x not in labelled)  # type: ignore[attr-defined]
    assert accounting(ctx)["failed"] == {"policy_violation": 1}


def test_the_client_draws_the_runs_tenant_mix(fast_platform: RunningPlatform) -> None:
    ctx = context(fast_platform.base, tenants="a:3,b:1")
    client = MIPTechClient(ctx, None)
    drawn = [client.session().tenant for _ in range(2000)]
    assert set(drawn) == {"a", "b"} and 0.7 < drawn.count("a") / len(drawn) < 0.8
    assert client.session("c").tenant == "c"  # a tenant named by the script wins
    plain = context(fast_platform.base)
    assert MIPTechClient(plain, None).session().tenant is None  # no mix: unlabelled


def test_bundled_lifecycles_say_the_conversations_turns(streaming: RunningPlatform) -> None:
    from harness.load.lifecycle import run_lifecycle

    ctx = context(streaming.base)
    ctx = replace(ctx, knobs=Knobs())  # no --think-time: each turn's own think_s
    ctx.conversations = (
        Conversation(
            (Turn("first question", step="opening"), Turn("and a follow-up", think_s=0.05)),
            tenant="acme",
            step="support",
        ),
    )
    outcome = run_lifecycle(ctx)
    assert outcome.failure is None
    done = samples(ctx, "chat_complete")
    assert [x.step for x in done] == ["opening", "support"]  # a turn's step, else its own
    assert all(x.tenant == "acme" for x in ctx.results.samples)  # type: ignore[attr-defined]
    # the turn's think time went by between the turns, with the session kept
    assert done[1].start - done[0].start >= 0.05 + done[0].duration_us / 1e6
    # a think time set for the run replaces the turns' own
    ctx.knobs = Knobs(think_time_s=(0.3, 0.3))
    assert run_lifecycle(ctx).failure is None
    later = samples(ctx, "chat_complete")[2:]
    assert later[1].start - later[0].start >= 0.3 + later[0].duration_us / 1e6


def test_connections_come_from_the_source_addresses_in_turn(fast_platform: RunningPlatform) -> None:
    ctx = context(fast_platform.base, source_addresses="127.0.0.2-127.0.0.3,127.0.0.7")
    seen = []
    for _ in range(4):
        with Session(ctx) as s:
            assert s.ready and s.conn is not None and s.conn.local_address is not None
            seen.append(s.conn.local_address[0])
    assert seen == ["127.0.0.2", "127.0.0.3", "127.0.0.7", "127.0.0.2"]
    assert accounting(ctx)["completed"] == 4


def test_a_source_address_this_machine_lacks_is_the_harness_fault(
    fast_platform: RunningPlatform,
) -> None:
    ctx = context(fast_platform.base, source_addresses="192.0.2.1")  # TEST-NET-1: not ours
    with Session(ctx) as s:
        assert not s.ready
    assert accounting(ctx)["failed"] == {"harness_error": 1}


@pytest.mark.parametrize(
    "misuse",
    ["wait_nan", "wait_negative", "step_with_space", "step_empty", "tenant_not_a_name"],
)
def test_a_script_that_calls_the_api_wrong_fails_its_lifecycle_and_says_where(
    fast_platform: RunningPlatform, caplog: pytest.LogCaptureFixture, misuse: str
) -> None:
    """Each once froze a run, or made labels the report cannot read, or blamed the platform
    (a tenant that is not a name was a policy_violation)."""
    ctx = context(fast_platform.base)
    calls = {
        "wait_nan": lambda s: s.wait(float("nan")),
        "wait_negative": lambda s: s.wait(-1),
        "step_with_space": lambda s: s.chat("hi", name="pricing question"),
        "step_empty": lambda s: s.chat("hi", name=""),
    }
    tenant = "bad tenant/é" if misuse == "tenant_not_a_name" else None
    with caplog.at_level(logging.ERROR, logger="harness"), Session(ctx, tenant=tenant) as s:
        calls.get(misuse, lambda s: None)(s)
    assert accounting(ctx)["failed"] == {"harness_error": 1}
    (line,) = [r.getMessage() for r in caplog.records if "harness_error" in r.getMessage()]
    assert "ValueError" in line and "test_api.py:" in line, line  # the script's line
    assert not any("{step:" in n and " " in n for n in ctx.results.take_delta()["hist"])


def test_a_session_opens_once(fast_platform: RunningPlatform) -> None:
    ctx = context(fast_platform.base)
    s = Session(ctx)
    with s:
        assert s.chat("hi").ok
    with pytest.raises(RuntimeError, match="opens once"), s:
        pass
    a = accounting(ctx)
    assert (a["started"], a["completed"]) == (1, 1)


def test_a_stop_explains_as_many_lifecycles_as_a_script_held_open(
    fast_platform: RunningPlatform,
) -> None:
    ctx = context(fast_platform.base)
    client = MIPTechClient(ctx, None)
    with client.session() as outer, client.session() as inner:
        assert outer.ready and inner.ready and client.open == 2
    assert client.open == 0 and client.most_open == 2


def test_turns_from_further_conversations_keep_their_own_steps(
    fast_platform: RunningPlatform,
) -> None:
    ctx = context(fast_platform.base)
    ctx.knobs = Knobs(chats_per_session=4)
    alpha = Conversation((Turn("a"),), step="alpha")
    beta = Conversation((Turn("b"), Turn("b2", step="own")), step="beta")
    ctx.conversations = (beta,)
    assert [(t.text, t.step) for t in ctx.turns(alpha)] == [
        ("a", "alpha"),
        ("b", "beta"),
        ("b2", "own"),
        ("b", "beta"),
    ]
