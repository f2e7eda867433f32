"""One real Connection + ClientSession against each hostile platform: the outcome is a
classified failure or a counted violation, at the right time, and never an exception."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import pytest

from harness.protocol.clock import MonotonicClock
from harness.protocol.session import ClientSession, PhaseSample, SessionSettings, State
from harness.transport import Connection
from tests.conftest import ROOT, harness_env
from tests.faults.hostile import ENDPOINT, HostileServer

# Every connection here, with each kind of socket the transport has.
pytestmark = pytest.mark.usefixtures("socket_kind")

QUERY = "?tenant_id=miptech-company&session_id=s-1"


@dataclass
class Run:
    session: ClientSession
    conn: Connection
    opened: bool = False
    ready: bool = False
    samples: list[PhaseSample] = field(default_factory=list)

    def failed(self) -> list[tuple[str, str | None]]:
        return [(s.phase, s.error) for s in self.samples if not s.ok]

    def ms(self, phase: str) -> float:
        [sample] = [s for s in self.samples if s.phase == phase]
        return sample.duration_us / 1000


def lifecycle(url: str, chat: bool = True, hold: float = 0.0, **settings: object) -> Run:
    """What a simulated user does: open, ready, one chat, one heartbeat, stay connected
    `hold` seconds (unless the connection ends), close."""
    settings = {"connection_timeout_s": 2.0, "ready_timeout_s": 2.0, **settings}
    samples: list[PhaseSample] = []
    session = ClientSession(
        SessionSettings(**settings),  # type: ignore[arg-type]
        MonotonicClock(),
        samples.append,
        session_id="s-1",
    )
    run = Run(session, Connection(session), samples=samples)
    run.opened = run.conn.open(url + ENDPOINT + QUERY)
    run.ready = run.opened and run.conn.wait_ready()
    if run.ready and chat:
        run.conn.chat("hello")
        run.conn.run_until(lambda: session.chats_in_flight == 0, 1.0)
        run.conn.ping()
        run.conn.run_until(lambda: session.pings_in_flight == 0, 1.0)
    if run.ready and hold:
        run.conn.run_until(lambda: not run.conn.is_open(), hold)
    run.conn.close()
    return run


@pytest.mark.parametrize(
    ("mode", "close_code"),
    [
        ("non_json", 1002),
        ("deep_json", 1002),
        ("just_too_deep", 1002),
        ("huge_number", 1002),
        ("invalid_utf8", 1007),
    ],
)
def test_a_malformed_ready_frame_is_a_protocol_error_and_closes_with_its_code(
    mode: str, close_code: int
) -> None:
    with HostileServer(mode) as server:
        run = lifecycle(server.url)
        _, code = server.seen("close")
    s = run.session
    assert run.opened and not run.ready
    assert s.state is State.FAILED and s.failure == "protocol_error"
    assert run.failed() == [("ready", "protocol_error")]
    assert s.counters.protocol_errors == 1 and s.fail_close is not None
    assert code == s.fail_close[0] == close_code  # the platform got our close frame
    assert run.ms("ready") < 1000  # at the frame, not at the ready timeout
    assert run.conn._socket is None  # the socket is gone


def test_a_ready_only_json_reads_as_it_stands_is_a_ready() -> None:
    """Lawful JSON that orjson refuses (json reads it): not a protocol error, a whole
    lifecycle."""
    with HostileServer("json_only") as server:
        run = lifecycle(server.url)
    assert run.ready and run.failed() == [] and run.session.counters.protocol_errors == 0
    assert {"platform_init", "chat_complete", "heartbeat"} <= {s.phase for s in run.samples}


@pytest.mark.parametrize("limit", [1024, 16 * 1024 * 1024])
def test_a_frame_announced_over_the_limit_fails_at_its_header(limit: int) -> None:
    with HostileServer("over_limit", max_frame_bytes=limit) as server:
        run = lifecycle(server.url, max_frame_bytes=limit)  # the rest never comes
        _, code = server.seen("close")
    assert run.session.failure == "protocol_error" and code == 1009
    assert run.failed() == [("ready", "protocol_error")]
    assert run.ms("ready") < 1000  # not the 2 s ready timeout: no wait for the payload


def test_stray_chunks_never_answer_a_chat() -> None:
    with HostileServer("stray_chunks") as server:
        run = lifecycle(server.url, chat_timeout_s=0.4)
    s = run.session
    assert run.ready and s.counters.stray_chunks == 2
    assert [x.phase for x in run.samples if x.phase.startswith("chat")] == ["chat_complete"]
    assert run.failed() == [("chat_complete", "chat_timeout")]
    assert s.state is State.DISCONNECTED and s.failure is None


def test_stray_chunks_then_the_real_reply_time_the_real_reply() -> None:
    with HostileServer("stray_then_real", reply_delay=0.25, chunk_gap=0.01) as server:
        run = lifecycle(server.url)
    s = run.session
    assert run.ready and run.failed() == [] and s.counters.stray_chunks == 2
    # Stray chunks came ~10 and ~20 ms after the chat; the real ones 250 ms after those.
    assert 270 <= run.ms("chat_first") < 400
    assert 280 <= run.ms("chat_complete") < 450


def test_a_repeated_ready_is_counted_and_changes_nothing() -> None:
    with HostileServer("ready_twice") as server:
        run = lifecycle(server.url)
    s = run.session
    assert run.ready and run.failed() == [] and s.counters.ready_repeated == 1
    assert [x.phase for x in run.samples].count("ready") == 1
    assert s.state is State.DISCONNECTED


def test_ready_before_auth_is_counted_and_ready_waits_for_the_answer_to_auth() -> None:
    with HostileServer("ready_before_auth", ready_delay=0.1) as server:
        run = lifecycle(server.url, chat=False)
    s = run.session
    assert run.ready and s.counters.ready_before_auth == 1 and run.failed() == []
    assert 100 <= run.ms("auth_delay") < 150
    assert 95 <= run.ms("platform_init") < 200  # from our auth to the proper ready


@pytest.mark.parametrize(("gap", "timeout"), [(1.0, 1.2), (0.1, 0.5)])
def test_a_trickled_101_times_out_at_the_connection_deadline(gap: float, timeout: float) -> None:
    """Each byte comes well within the timeout; the whole 101 (~130 bytes) never does."""
    with HostileServer("trickle_101", trickle_gap=gap) as server:
        started = time.perf_counter()
        run = lifecycle(server.url, connection_timeout_s=timeout)
        elapsed = time.perf_counter() - started
    assert not run.opened and run.session.failure == "connect_timeout"
    assert run.failed() == [("connect", "connect_timeout")]
    assert timeout * 1000 <= run.ms("connect") < timeout * 1000 + 50
    assert elapsed < timeout + 0.1


def test_a_wrong_sec_websocket_accept_is_a_rejected_handshake() -> None:
    with HostileServer("bad_accept") as server:
        run = lifecycle(server.url)
    assert not run.opened and run.session.failure == "handshake_rejected"
    assert run.failed() == [("connect", "handshake_rejected")]
    assert "Invalid WebSocket Header" in run.conn.detail


def test_one_byte_segments_make_a_whole_sane_lifecycle() -> None:
    with HostileServer("one_byte_segments", ready_delay=0.05) as server:
        run = lifecycle(server.url)
    s = run.session
    assert run.ready and run.failed() == [] and s.state is State.DISCONNECTED
    phases = [x.phase for x in run.samples]
    assert phases == [
        "connect", "auth_delay", "platform_init", "ready", "chat_first", "chat_gap",
        "chat_complete", "heartbeat",
    ]  # fmt: skip
    us = {x.phase: x.duration_us for x in run.samples}
    assert us["connect"] > 50_000  # ~130 bytes of 101, one segment each
    assert abs(us["ready"] - (us["connect"] + us["auth_delay"] + us["platform_init"])) <= 3
    assert us["platform_init"] >= 50_000 and us["chat_first"] <= us["chat_complete"]
    assert s.counters.protocol_errors == s.counters.stray_chunks == 0


def test_tcp_closed_without_a_close_frame_after_ready_is_dropped() -> None:
    with HostileServer("abrupt_close") as server:
        run = lifecycle(server.url, chat=False, hold=1.0)
        assert run.ready
    s = run.session
    assert s.state is State.FAILED and s.failure == "dropped" and s.close_code is None


def test_no_ready_times_out_and_the_close_goes_out_at_the_deadline() -> None:
    with HostileServer("no_ready") as server:
        run = lifecycle(server.url, ready_timeout_s=0.3)
        auth_at, _ = server.seen("auth")
        close_at, code = server.seen("close")
    assert not run.ready and run.session.failure == "ready_timeout" and code == 1000
    assert run.failed() == [("ready", "ready_timeout")]
    assert 0.29 <= close_at - auth_at < 0.35  # sent in the poll that gave up, not later
    assert 400 <= run.ms("ready") < 450  # auth delay + ready timeout


def test_the_command_serves_many_connections_at_once() -> None:
    """As the Locust-level tests start it: `python -m tests.faults.hostile MODE`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.hostile", "correct", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=harness_env(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on ws://127.0.0.1:") and line.rstrip().endswith(ENDPOINT)
        base = line.split()[-1].removesuffix(ENDPOINT)
        runs: list[Run] = []
        threads = [threading.Thread(target=lambda: runs.append(lifecycle(base))) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(runs) == 20 and all(r.ready and r.failed() == [] for r in runs)
        assert all(len(r.samples) == 8 for r in runs)  # a reply of 2 chunks: 1 gap
    finally:
        process.terminate()
        process.wait(5)
