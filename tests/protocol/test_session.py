"""The client state machine, driven with no sockets and a manual clock."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.protocol import messages as m
from harness.protocol import session as session_module
from harness.protocol.clock import ManualClock
from harness.protocol.session import (
    CircuitOpen,
    ClientSession,
    MessageTooLong,
    PhaseSample,
    SessionSettings,
    State,
    new_id,
)


def ready_frame() -> str:
    return m.encode(
        "connection_ready", {"client_id": "c1", "tenant_id": "t", "ready_duration": 0.4}
    )


def chunk(reply_to: str | None, done: bool | None) -> str:
    data: dict[str, object] = {"role": "assistant", "content": "x"}
    if reply_to:
        data["in_reply_to"] = reply_to
    if done is not None:
        data["done"] = done
    return m.encode("chat_message", data)


class Driver:
    """What a transport does, minus the socket."""

    def __init__(self, **settings: object) -> None:
        self.clock = ManualClock()
        self.samples: list[PhaseSample] = []
        self.session = ClientSession(
            SessionSettings(**settings),  # type: ignore[arg-type]
            self.clock,
            self.samples.append,
            session_id="s-1",
        )

    def sent(self) -> list[tuple[str, dict[str, object]]]:
        return [m.decode(f) for f in self.session.data_to_send()]

    def at(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    def to_auth(self, connect_s: float = 0.01) -> None:
        """Connected `connect_s` after connect(), then the auth sent at its delay."""
        s = self.session
        s.connect()
        s.opened(self.at(connect_s))
        s.poll(self.at(s.settings.auth_delay_s))

    def to_ready(self, connect_s: float = 0.05, init_s: float = 0.4) -> None:
        self.to_auth(connect_s)
        self.session.receive(ready_frame(), self.at(init_s))
        self.session.data_to_send()

    def phases(self, ok: bool | None = None) -> list[tuple[str, int, str | None]]:
        return [(x.phase, x.duration_us, x.error) for x in self.samples if ok is None or x.ok == ok]


def test_documented_lifecycle_times_every_phase_in_microseconds() -> None:
    d = Driver()
    s = d.session
    assert s.state is State.DISCONNECTED
    s.connect()
    assert s.state is State.CONNECTING
    s.opened(d.at(0.150))
    assert s.state is State.CONNECTED
    s.poll(d.at(0.099))
    assert d.sent() == []  # not yet: the auth delay is 100 ms
    assert s.next_deadline() == pytest.approx(d.clock.now() + 0.001)
    s.poll(d.at(0.001))
    [(kind, data)] = d.sent()
    assert kind == "auth"
    assert set(data) == {"tenant_id", "session_id", "user_agent", "page_url", "timestamp"}
    assert data["tenant_id"] == "miptech-company" and data["session_id"] == "s-1"
    assert str(data["timestamp"]).endswith("Z")
    s.receive(m.encode("connection_established", {"client_id": "c1"}), d.at(0.001))
    assert s.state is State.CONNECTED  # established is not ready
    s.receive(ready_frame(), d.at(0.405))
    assert s.state is State.READY and s.is_connection_ready()
    assert d.phases() == [
        ("connect", 150_000, None),
        ("auth_delay", 100_000, None),
        ("platform_init", 406_000, None),
        ("ready", 656_000, None),
    ]
    assert s.ready_info == m.ConnectionReady("c1", "t", 0.4)
    assert d.samples[0].start == pytest.approx(d.clock.to_epoch(1000.0))


def test_user_messages_queue_until_ready_and_are_timed_from_their_send() -> None:
    d = Driver()
    s = d.session
    s.connect()
    s.opened(d.at(0.01))
    message_id = s.send_chat("hello")
    assert message_id is not None
    assert s.metrics()["queuedMessages"] == 1
    s.poll(d.at(0.1))
    assert [k for k, _ in d.sent()] == ["auth"]  # the chat waits
    s.receive(ready_frame(), d.at(0.3))
    [(kind, data)] = d.sent()
    assert kind == "chat_message" and data["message_id"] == message_id
    assert s.metrics()["queuedMessages"] == 0
    s.receive(chunk(message_id, False), d.at(0.2))
    s.receive(chunk(message_id, True), d.at(0.1))
    assert d.phases()[-3:] == [
        ("chat_first", 200_000, None),
        ("chat_gap", 100_000, None),
        ("chat_complete", 300_000, None),
    ]


def test_queue_limit_drops_and_counts_overflow() -> None:
    d = Driver(message_queue_limit=100)
    s = d.session
    ids = [s.send_chat(f"m{i}") for i in range(101)]
    assert all(ids[:100]) and ids[100] is None
    assert s.counters.dropped_messages == 1
    assert s.metrics()["queuedMessages"] == 100


def test_message_longer_than_the_limit_is_refused() -> None:
    d = Driver()
    d.to_ready()
    d.session.send_chat("x" * 4000)
    with pytest.raises(MessageTooLong):
        d.session.send_chat("x" * 4001)


def test_ready_timeout_ten_seconds_after_auth() -> None:
    d = Driver()
    s = d.session
    d.to_auth()
    s.poll(d.at(9.999))
    assert s.state is State.CONNECTED
    assert s.next_deadline() == pytest.approx(d.clock.now() + 0.001)
    s.poll(d.at(0.001))
    assert d.phases(ok=False) == [("ready", 10_110_000, "ready_timeout")]
    assert s.state is State.DISCONNECTING  # the session asks its driver to close
    s.closed(1000, "", d.at(0.01))
    assert s.state is State.FAILED and s.failure == "ready_timeout"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (1008, "policy_violation"),
        (1011, "server_error"),
        (1013, "overloaded"),
        (4000, "dropped"),
        (None, "dropped"),
        (1000, "dropped"),
    ],
)
def test_close_while_waiting_for_ready_fails_ready_with_its_class(
    code: int | None, error: str
) -> None:
    d = Driver()
    s = d.session
    d.to_auth()
    s.closed(code, "", d.at(0.2))
    assert d.phases(ok=False) == [("ready", 310_000, error)]
    assert s.state is State.FAILED and s.failure == error


def test_normal_close_from_ready_with_nothing_in_flight_is_no_failure() -> None:
    d = Driver()
    d.to_ready()
    d.session.closed(1000, "bye", d.at(1))
    assert d.session.state is State.DISCONNECTED and d.session.failure is None
    assert d.phases(ok=False) == []


def test_our_close_interrupts_chats_without_failing_them() -> None:
    d = Driver()
    d.to_ready()
    d.session.send_chat("hi")
    d.session.close()
    assert d.session.state is State.DISCONNECTING
    d.session.closed(1000, "", d.at(0.01))
    assert d.session.state is State.DISCONNECTED
    assert d.session.counters.interrupted_chats == 1
    assert d.phases(ok=False) == []


def test_connection_refused_and_connect_timeout() -> None:
    d = Driver()
    s = d.session
    s.connect()
    s.connect_failed("connection_refused", d.at(0.002))  # type: ignore[arg-type]
    assert s.state is State.FAILED
    d2 = Driver()
    d2.session.connect()
    assert d2.session.next_deadline() == pytest.approx(d2.clock.now() + 10)
    d2.session.poll(d2.at(10))
    assert d.phases() == [("connect", 2_000, "connection_refused")]
    assert d2.phases() == [("connect", 10_000_000, "connect_timeout")]


def test_chats_are_matched_by_in_reply_to_and_interleave() -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    a = s.send_chat("a", at=d.at(0))
    b = s.send_chat("b", at=d.at(0.01))
    s.receive(chunk(b, False), d.at(0.02))
    s.receive(chunk(a, False), d.at(0.01))
    s.receive(chunk(a, True), d.at(0.01))
    s.receive(chunk(b, True), d.at(0.01))
    chat = [p for p in d.phases() if p[0].startswith("chat")]
    assert chat == [
        ("chat_first", 20_000, None),  # b
        ("chat_first", 40_000, None),  # a
        ("chat_gap", 10_000, None),  # a: its own chunks, whatever came in between
        ("chat_complete", 50_000, None),  # a
        ("chat_gap", 30_000, None),  # b
        ("chat_complete", 50_000, None),  # b
    ]
    assert s.chats_in_flight == 0


def test_a_platform_without_done_completes_at_stop_typing() -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    a = s.send_chat("a")
    s.receive(m.encode("typing", {}), d.at(0.01))
    s.receive(chunk(a, None), d.at(0.1))
    s.receive(chunk(a, None), d.at(0.1))
    assert s.chats_in_flight == 1
    s.receive(m.encode("stop_typing", {}), d.at(0.05))
    assert [p for p in d.phases() if p[0].startswith("chat")] == [
        ("chat_first", 110_000, None),
        ("chat_gap", 100_000, None),
        ("chat_complete", 260_000, None),
    ]


def test_stop_typing_completes_only_the_one_chat_in_flight_and_only_once_begun() -> None:
    """For a platform whose chunks carry no `done`."""
    d = Driver()
    d.to_ready()
    s = d.session
    a = s.send_chat("a")
    s.receive(m.encode("stop_typing", {}), d.at(0.05))  # a's reply has not begun
    assert s.chats_in_flight == 1
    b = s.send_chat("b")
    s.receive(chunk(a, None), d.at(0.05))
    s.receive(chunk(b, None), d.at(0.05))
    s.receive(m.encode("stop_typing", {}), d.at(0.05))  # whose? two are in flight
    assert s.chats_in_flight == 2
    d2 = Driver()
    d2.to_ready()
    c = d2.session.send_chat("c")
    d2.session.receive(chunk(c, None), d2.at(0.05))
    d2.session.receive(m.encode("stop_typing", {}), d2.at(0.05))
    assert d2.session.chats_in_flight == 0
    assert [p for p in d2.phases() if p[0] == "chat_complete"] == [("chat_complete", 100_000, None)]


def test_a_platform_that_sends_done_completes_on_it_not_on_stop_typing() -> None:
    """stop_typing in the middle of a reply (typing indicators flicker) must not end it."""
    d = Driver()
    d.to_ready()
    s = d.session
    a = s.send_chat("a")
    s.receive(chunk(a, False), d.at(0.015))
    s.receive(m.encode("stop_typing", {}), d.at(0.1))
    assert s.chats_in_flight == 1
    s.receive(chunk(a, True), d.at(0.2))
    assert [p for p in d.phases() if p[0] == "chat_complete"] == [("chat_complete", 315_000, None)]
    assert s.counters.stray_chunks == 0


@pytest.mark.parametrize("reply_to", ["not-a-chat-of-ours", None])
def test_a_chunk_naming_no_chat_in_flight_is_stray_and_never_answers_another(
    reply_to: str | None,
) -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    a = s.send_chat("a")
    s.receive(chunk(reply_to, False), d.at(0.02))
    s.receive(chunk(reply_to, True), d.at(0.01))
    s.receive(m.encode("stop_typing", {}), d.at(0.01))
    assert s.chats_in_flight == 1 and s.counters.stray_chunks == 2
    assert [p for p in d.phases() if p[0].startswith("chat")] == []
    s.receive(chunk(a, False), d.at(0.16))  # the true reply, 200 ms after the send
    s.receive(chunk(a, True), d.at(0.1))
    assert [p for p in d.phases() if p[0].startswith("chat")] == [
        ("chat_first", 200_000, None),
        ("chat_gap", 100_000, None),
        ("chat_complete", 300_000, None),
    ]
    s.receive(chunk(a, True), d.at(0.1))  # a's reply again, once complete: stray too
    assert s.counters.stray_chunks == 3 and s.state is State.READY


def test_chat_timeout_and_platform_rejection() -> None:
    d = Driver(chat_timeout_s=30.0)
    d.to_ready()
    s = d.session
    first = s.send_chat("a")
    s.poll(d.at(29.9))
    assert s.chats_in_flight == 1
    s.poll(d.at(0.1))
    second = s.send_chat("b")
    error = {"code": "rate_limited", "message": "slow down", "in_reply_to": second}
    s.receive(m.encode("error", error), d.at(0.01))
    assert d.phases(ok=False) == [
        ("chat_complete", 30_000_000, "chat_timeout"),
        ("chat_complete", 10_000, "rejected"),
    ]
    assert first != second and s.state is State.READY


def test_platform_errors_fail_only_the_chat_they_name_or_the_only_one() -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    a = s.send_chat("a", at=d.at(0))
    b = s.send_chat("b", at=d.at(0))

    def error(code: str, reply_to: str | None = None) -> str:
        data = {"code": code, "message": "no"}
        return m.encode("error", data | ({"in_reply_to": reply_to} if reply_to else {}))

    s.receive(error("rate_limited", "not-ours"), d.at(0.01))  # names no chat of ours
    s.receive(error("rate_limited"), d.at(0.01))  # names none, and two are in flight
    assert s.chats_in_flight == 2
    s.receive(error("bad_message", b), d.at(0.01))  # names b: any code
    assert s.chats_in_flight == 1
    s.receive(error("bad_message"), d.at(0.01))  # not a chat's answer: a is not failed
    assert s.chats_in_flight == 1
    s.receive(error("not_ready"), d.at(0.01))  # a chat's answer, one chat in flight: a
    assert s.chats_in_flight == 0 and s.counters.errors == 5
    assert d.phases(ok=False) == [
        ("chat_complete", 30_000, "rejected"),  # b
        ("chat_complete", 50_000, "rejected"),  # a
    ]
    assert a != b and s.state is State.READY


def test_unknown_types_are_counted_and_ignored() -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    assert isinstance(s.receive(m.encode("surprise", {}), d.at(0)), m.UnknownMessage)
    assert isinstance(s.receive(m.encode("status", {"x": 1}), d.at(0)), m.Status)
    assert s.state is State.READY
    assert s.counters.unknown_messages == 1 and s.counters.protocol_errors == 0


def ready_with(duration: str) -> str:
    """A connection_ready frame with a number written as is."""
    return '{"type":"connection_ready","data":{"client_id":"c","ready_duration":' + duration + "}}"


def nested(depth: int) -> str:
    """A status frame whose arrays and objects nest `depth` deep in all."""
    return m.encode("status", {"x": 0}).replace("0", "[" * (depth - 2) + "]" * (depth - 2))


MALFORMED = [
    ("not json", 1002),
    (json.dumps([1, 2]), 1002),
    ('{"type": 3, "data": {}}', 1002),
    ('{"type": "status", "data": []}', 1002),
    (b'{"type":"connection_ready","data":{"client_id":"\xff"}}', 1007),  # not UTF-8
    (b'{"type":"status","data":{"x":"\xed\xa0\x80"}}', 1007),  # an encoded surrogate
    ("[" * 100_000 + "]" * 100_000, 1002),  # RecursionError in json.loads
    (nested(65), 1002),  # one level deeper than max_json_depth
    (ready_with("9" * 400), 1002),  # OverflowError in float()
    (ready_with("9" * 5000), 1002),  # ValueError: more digits than int() converts
    (ready_with("1e400"), 1002),  # infinite
    (ready_with("NaN"), 1002),  # not JSON, though json.loads takes it
    ("x" * 1_000_001, 1009),  # over max_frame_bytes
]


@pytest.mark.parametrize(("frame", "code"), MALFORMED)
def test_a_malformed_frame_while_waiting_for_ready_ends_the_connection_as_protocol_error(
    frame: str | bytes, code: int
) -> None:
    d = Driver(max_frame_bytes=1_000_000)
    s = d.session
    d.to_auth()
    assert s.receive(frame, d.at(0.2)) is None
    assert d.phases(ok=False) == [("ready", 310_000, "protocol_error")]
    assert s.state is State.FAILED and s.failure == "protocol_error"
    assert s.fail_close is not None and s.fail_close[0] == code
    assert len(s.fail_close[1].encode()) <= 123
    assert s.counters.protocol_errors == 1 and s.counters.errors == 1
    assert s.next_deadline() is None


def test_nesting_up_to_max_json_depth_is_accepted() -> None:
    d = Driver()
    d.to_ready()
    assert isinstance(d.session.receive(nested(64), d.at(0)), m.Status)
    assert d.session.state is State.READY
    d = Driver(max_json_depth=3)
    d.to_ready()
    assert d.session.receive(nested(4), d.at(0)) is None
    assert d.session.failure == "protocol_error"


def test_a_malformed_frame_when_ready_fails_what_is_in_flight() -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    s.send_chat("a", at=d.at(0))
    s.send_ping(d.at(0.01))
    assert s.receive("oops", d.at(0.04)) is None
    assert d.phases(ok=False) == [
        ("chat_complete", 50_000, "protocol_error"),
        ("heartbeat", 40_000, "protocol_error"),
    ]
    assert s.state is State.FAILED and s.chats_in_flight == 0 and s.pings_in_flight == 0
    assert s.fail_close == (
        1002,
        "not JSON: JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
    )


def test_a_held_session_reconnects_after_a_protocol_error_per_its_backoff() -> None:
    d = Driver(reconnect=True)
    d.to_ready()
    s = d.session
    s.receive(b"\xff", d.at(1))
    assert s.state is State.RECONNECTING and s.failure == "protocol_error"
    assert s.reconnect_at == pytest.approx(d.clock.now() + 1.0)
    d.clock.t = s.reconnect_at or 0
    d.to_ready()
    assert s.fail_close is None  # a new connection
    assert [(x.phase, x.attempt) for x in d.samples if x.phase == "reconnect"] == [("reconnect", 1)]


def test_a_protocol_error_found_by_the_driver_fails_the_connection_the_same_way() -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    s.fail(1009, "a frame of 20000000 bytes", d.at(0.5))
    assert s.state is State.FAILED and s.failure == "protocol_error"
    assert s.fail_close == (1009, "a frame of 20000000 bytes")
    assert s.counters.protocol_errors == 1
    s.fail(1002, "once more", d.at(0.1))  # nothing open: counted, nothing else
    assert s.counters.protocol_errors == 2 and s.fail_close[1] == "a frame of 20000000 bytes"


def test_a_close_reason_fits_a_close_frame_whatever_it_quotes() -> None:
    d = Driver()
    d.to_ready()
    d.session.fail(1002, "\ud800 é" * 100, d.at(0.1))  # a lone surrogate, 2-byte characters
    assert d.session.fail_close is not None
    code, reason = d.session.fail_close
    assert code == 1002 and len(reason.encode()) <= 123 and reason.startswith("? é")


def test_a_protocol_error_while_closing_keeps_the_reason_we_were_closing() -> None:
    d = Driver(ready_timeout_s=1.0)
    s = d.session
    d.to_auth()
    s.poll(d.at(1.0))
    assert s.state is State.DISCONNECTING
    assert s.receive("garbage", d.at(0.01)) is None
    assert s.state is State.FAILED and s.failure == "ready_timeout"
    assert s.fail_close is not None and s.counters.protocol_errors == 1
    assert d.phases(ok=False) == [("ready", 1_110_000, "ready_timeout")]


def test_ready_before_auth_is_counted_and_not_taken_for_ready() -> None:
    d = Driver()
    s = d.session
    s.connect()
    s.opened(d.at(0.05))
    s.receive(ready_frame(), d.at(0.01))  # before our auth: an answer to nothing
    assert s.state is State.CONNECTED and s.counters.ready_before_auth == 1
    assert s.next_deadline() == pytest.approx(d.clock.now() + 0.09)  # auth still due
    s.poll(d.at(0.09))
    assert [k for k, _ in d.sent()] == ["auth"]
    s.receive(ready_frame(), d.at(0.1))
    assert s.state is State.READY
    assert d.phases() == [
        ("connect", 50_000, None),
        ("auth_delay", 100_000, None),
        ("platform_init", 100_000, None),
        ("ready", 250_000, None),
    ]


def test_a_repeated_ready_is_counted_and_ignored() -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    s.send_chat("a")
    s.receive(ready_frame(), d.at(0.1))
    assert s.state is State.READY and s.counters.ready_repeated == 1
    assert [p[0] for p in d.phases()].count("ready") == 1
    assert s.chats_in_flight == 1 and d.sent() != []


def test_heartbeat_every_interval_and_pong_latency() -> None:
    d = Driver(heartbeat_interval_s=30.0)
    d.to_ready()
    s = d.session
    s.poll(d.at(29.0))
    assert d.sent() == []
    s.poll(d.at(1.0))
    [(kind, data)] = d.sent()
    assert kind == "ping"
    s.receive(m.encode("pong", {"timestamp": data["timestamp"]}), d.at(0.042))
    assert d.phases()[-1] == ("heartbeat", 42_000, None)
    metrics = s.metrics()
    assert metrics["currentLatency"] == 42.0 and metrics["averageLatency"] == 42.0
    assert s.next_deadline() == pytest.approx(d.clock.now() - 0.042 + 30)


def test_reconnect_backoff_doubles_then_fails_after_five_attempts() -> None:
    d = Driver(reconnect=True, circuit_breaker_threshold=100)
    s = d.session
    d.to_ready()
    s.closed(1011, "", d.at(1))  # dropped after ready
    delays = []
    while s.state is State.RECONNECTING:
        assert s.reconnect_at is not None
        delays.append(round(s.reconnect_at - d.clock.now(), 6))
        d.clock.t = s.reconnect_at
        s.connect()
        s.connect_failed("connection_refused", d.at(0.001))  # type: ignore[arg-type]
    assert delays == [1, 2, 4, 8, 16]
    assert s.state is State.FAILED and s.counters.reconnect_count == 5
    assert [x.attempt for x in d.samples if x.phase == "connect"] == [0, 1, 2, 3, 4, 5]


def test_open_resets_reconnect_attempts_as_the_document_does() -> None:
    d = Driver(reconnect=True)
    d.to_ready()
    s = d.session
    s.closed(None, "", d.at(1))
    assert s.reconnect_attempts == 1
    d.clock.t = s.reconnect_at or 0
    d.to_ready()
    assert s.reconnect_attempts == 0 and s.metrics()["reconnectCount"] == 1


def test_circuit_breaker_opens_after_three_failures_and_delays_reconnects() -> None:
    d = Driver(reconnect=True, circuit_breaker_threshold=3, circuit_breaker_timeout_s=60.0)
    s = d.session
    s.connect()
    for _ in range(3):
        s.connect_failed("connection_refused", d.at(0.001))  # type: ignore[arg-type]
        if s.breaker.allows(d.clock.now()):
            d.clock.t = s.reconnect_at or 0
            s.connect()
    opened_at = d.clock.now()
    assert s.metrics()["circuitBreakerState"] == "OPEN"
    assert s.reconnect_at == pytest.approx(opened_at + 60)
    with pytest.raises(CircuitOpen):
        s.connect()
    d.clock.t = opened_at + 60
    assert s.metrics()["circuitBreakerState"] == "HALF_OPEN"
    d.to_ready()
    assert s.metrics()["circuitBreakerState"] == "CLOSED"


def test_metrics_and_status_carry_the_documents_fields() -> None:
    d = Driver()
    d.to_ready()
    metrics = d.session.metrics(d.at(15))
    assert set(metrics) == {
        "connectionCount", "messagesSent", "messagesReceived", "reconnectCount", "errors",
        "averageLatency", "lastConnectedAt", "totalDowntime", "currentLatency",
        "circuitBreakerState", "connectionState", "reconnectAttempts", "queuedMessages", "uptime",
    }  # fmt: skip
    assert metrics["connectionCount"] == 1 and metrics["messagesSent"] == 1
    assert metrics["messagesReceived"] == 1 and metrics["connectionState"] == "READY"
    assert metrics["uptime"] == 15_500  # since open: auth delay + init + 15 s
    status = d.session.status()
    assert status == {
        "isConnected": True,
        "readyState": 1,
        "reconnectAttempts": 0,
        "sessionId": "s-1",
        "tenantId": "miptech-company",
    }


def test_downtime_accumulates_between_connections() -> None:
    d = Driver(reconnect=True)
    d.to_ready()
    s = d.session
    s.closed(1011, "", d.at(1))
    d.clock.t = (s.reconnect_at or 0) + 0.5
    s.connect()
    s.opened(d.at(0.5))
    assert s.metrics()["totalDowntime"] == 2000


def test_reconnect_phase_runs_from_the_loss_to_ready_again() -> None:
    d = Driver(reconnect=True)
    d.to_ready()
    s = d.session
    s.closed(1001, "restart", d.at(1))
    d.clock.t = s.reconnect_at or 0  # 1 s backoff
    d.to_ready(connect_s=0.01, init_s=0.2)
    reconnect = [x for x in d.samples if x.phase == "reconnect"]
    assert [(x.duration_us, x.attempt) for x in reconnect] == [(1_310_000, 1)]


def test_typing_indicators_go_out_at_once() -> None:
    d = Driver()
    d.to_ready()
    d.session.send_typing(True)
    d.session.send_typing(False)
    assert [k for k, _ in d.sent()] == ["typing", "stop_typing"]


def test_a_streamed_reply_times_its_first_chunk_every_gap_and_its_rate() -> None:
    """chat_first is the time to first token, chat_gap each inter-chunk gap; the completed
    reply carries its chunks and characters per second after the first chunk."""
    d = Driver()
    d.to_ready()
    s = d.session
    a = s.send_chat("a")

    def part(text: str, done: bool) -> str:
        data = {"role": "assistant", "content": text, "in_reply_to": a, "done": done}
        return m.encode("chat_message", data)

    s.receive(part("Hello", False), d.at(0.25))
    s.receive(part(" there,", False), d.at(0.04))
    s.receive(part(" how can I help", False), d.at(0.06))
    s.receive(part("?", True), d.at(0.1))
    assert [p for p in d.phases() if p[0].startswith("chat")] == [
        ("chat_first", 250_000, None),
        ("chat_gap", 40_000, None),
        ("chat_gap", 60_000, None),
        ("chat_gap", 100_000, None),
        ("chat_complete", 450_000, None),
    ]
    complete = d.samples[-1]
    assert complete.chunks == 4
    assert complete.chars_per_s == round(len(" there, how can I help?") / 0.2, 1)
    single = s.send_chat("b")
    s.receive(
        m.encode("chat_message", {"content": "ok", "in_reply_to": single, "done": True}),
        d.at(0.1),
    )
    assert (d.samples[-1].chunks, d.samples[-1].chars_per_s) == (1, None)  # no stream


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_new_id_is_the_uuid4_that_uuid_makes_of_the_same_bits(bits: int) -> None:
    class Fixed:
        def getrandbits(self, k: int) -> int:
            assert k == 128
            return bits

    real = session_module._RNG
    session_module._RNG = Fixed()  # type: ignore[assignment]
    try:
        made = new_id()
    finally:
        session_module._RNG = real
    assert made == str(uuid.UUID(int=bits, version=4))
    assert uuid.UUID(made).version == 4


def test_a_phase_sample_cannot_be_changed_once_made() -> None:
    sample = PhaseSample("s", "connect", 1.0, 5, True)
    with pytest.raises(AttributeError):
        sample.duration_us = 1  # type: ignore[misc]
    assert (sample.error, sample.attempt, sample.chunks, sample.tenant) == (None, 0, None, None)


# -- a frame read late: it arrived (its kernel stamp) before something we sent after it ------


def test_a_ready_that_arrived_before_the_auth_went_out_is_not_its_answer() -> None:
    d = Driver()
    s = d.session
    s.connect()
    s.opened(d.at(0.05))
    s.poll(d.at(0.1))  # the auth goes out, late: the ready below had already come
    assert [k for k, _ in d.sent()] == ["auth"]
    s.receive(ready_frame(), d.clock.now() - 0.01)
    assert s.state is State.CONNECTED and s.counters.ready_before_auth == 1
    s.receive(ready_frame(), d.at(0.2))
    assert s.state is State.READY
    assert ("platform_init", 200_000, None) in d.phases()
    assert min(x.duration_us for x in d.samples) >= 0


def test_a_close_that_arrived_before_a_chat_and_a_ping_went_out_fails_them_when_sent() -> None:
    d = Driver(reconnect=False)
    d.to_ready()
    s = d.session
    s.send_chat("hello")
    s.send_ping()
    s.closed(1011, "", d.clock.now() - 0.05)  # read after we sent them
    failed = d.phases(ok=False)
    assert [(p, us) for p, us, _ in failed if p in ("chat_complete", "heartbeat")] == [
        ("chat_complete", 0),
        ("heartbeat", 0),
    ]
    assert min(x.duration_us for x in d.samples) >= 0


def test_an_unsolicited_pong_that_arrived_before_the_ping_went_out_answers_nothing() -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    s.send_ping()
    [(_, data)] = d.sent()
    s.receive(m.encode("pong", {"timestamp": "not ours"}), d.clock.now() - 0.01)
    assert s.pings_in_flight == 1 and "heartbeat" not in [p for p, _, _ in d.phases()]
    s.receive(m.encode("pong", {"timestamp": data["timestamp"]}), d.at(0.03))
    assert d.phases()[-1] == ("heartbeat", 30_000, None)


def test_an_error_naming_no_chat_that_arrived_before_the_chat_went_out_does_not_fail_it() -> None:
    d = Driver()
    d.to_ready()
    s = d.session
    message_id = s.send_chat("hello")
    error = {"code": "rate_limited", "message": "x"}
    s.receive(m.encode("error", error), d.clock.now() - 0.01)  # one chat in flight
    assert s.chats_in_flight == 1
    s.receive(chunk(message_id, True), d.at(0.25))
    assert d.phases()[-1][:2] == ("chat_complete", 250_000)


def test_a_reply_naming_a_chat_before_it_went_out_is_the_harness_clock_not_the_platform() -> None:
    """A platform cannot name a chat's id, or echo a ping's timestamp, before it was sent: a
    stamp that says it did is the harness's clock (a wall clock stepped), and stays the
    negative duration the run reports as such, not a violation charged to the platform."""
    d = Driver()
    d.to_ready()
    s = d.session
    message_id = s.send_chat("hello")
    s.send_ping()
    timestamp = next(data for kind, data in d.sent() if kind == "ping")["timestamp"]
    early = d.clock.now() - 0.002
    s.receive(chunk(message_id, True), early)
    s.receive(m.encode("pong", {"timestamp": timestamp}), early)
    assert s.counters.stray_chunks == 0
    assert [(p, us) for p, us, _ in d.phases() if us < 0] == [
        ("chat_first", -2000),
        ("chat_complete", -2000),
        ("heartbeat", -2000),
    ]


def test_a_chat_queued_before_ready_is_timed_from_when_it_is_sent_not_from_the_ready() -> None:
    d = Driver()
    s = d.session
    d.to_auth(0.05)
    message_id = s.send_chat("hello")  # queued: not ready yet
    d.at(0.5)
    s.receive(ready_frame(), d.clock.now() - 0.03)  # read 30 ms after it came
    assert s.state is State.READY
    s.receive(chunk(message_id, True), d.at(0.1))
    assert ("chat_first", 100_000, None) in d.phases()
