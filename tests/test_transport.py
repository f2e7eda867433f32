"""The transport in a plain process and under gevent monkey-patching (as Locust runs it)."""

from __future__ import annotations

import gc
import json
import socket
import subprocess
import sys
import time
import urllib.request
import weakref
from collections.abc import Iterator

import pytest

from harness.config import load_settings
from harness.protocol.clock import MonotonicClock
from harness.protocol.session import ClientSession, PhaseSample, State
from harness.transport import BufferedSocket, Connection
from tests.conftest import ROOT, RunningPlatform

GEVENT_SCRIPT = """
from gevent import monkey; monkey.patch_all()
import json, sys, gevent
from harness.config import load_settings
from harness.protocol.clock import MonotonicClock
from harness.protocol.session import ClientSession
from harness.transport import BufferedSocket, Connection

settings = load_settings(cli={"ws_url": sys.argv[1]}, environ={})
samples = []

def lifecycle():
    session = ClientSession(settings.session_settings(), MonotonicClock(), samples.append)
    conn = Connection(session)
    assert conn.open(settings.session_url(session.session_id))
    assert conn.wait_ready()
    conn.chat("hi")
    conn.run_until(lambda: session.chats_in_flight == 0, 5)
    conn.close()

gevent.joinall([gevent.spawn(lifecycle) for _ in range(50)], raise_error=True)
print(json.dumps([(s.phase, s.duration_us, s.ok) for s in samples]))
"""


def test_fifty_concurrent_lifecycles_under_gevent(fast_platform: RunningPlatform) -> None:
    result = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT, fast_platform.base],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    samples = json.loads(result.stdout)
    by_phase: dict[str, list[int]] = {}
    for phase, duration_us, ok in samples:
        assert ok
        by_phase.setdefault(phase, []).append(duration_us)
    assert {k: len(v) for k, v in by_phase.items()} == {
        "connect": 50, "auth_delay": 50, "platform_init": 50, "ready": 50,
        "chat_first": 50, "chat_complete": 50,
    }  # fmt: skip
    assert min(by_phase["auth_delay"]) >= 100_000


def test_reconnect_after_the_platform_drops_the_session(fast_platform: RunningPlatform) -> None:

    settings = load_settings(
        cli={"ws_url": fast_platform.base, "reconnect_delay_ms": 200}, environ={}
    )
    samples: list[PhaseSample] = []
    session = ClientSession(
        settings.session_settings(reconnect=True), MonotonicClock(), samples.append
    )
    conn = Connection(session)
    assert conn.open(settings.session_url(session.session_id)) and conn.wait_ready()
    urllib.request.urlopen(f"http://127.0.0.1:{fast_platform.port}/_harness/drop").close()
    assert conn.run_until(lambda: session.state is State.RECONNECTING, 5)
    assert session.failure == "dropped" and session.reconnect_at is not None
    assert session.reconnect_at - session.clock.now() <= 0.2
    conn.run_until(lambda: False, session.reconnect_at - session.clock.now())
    assert conn.open(settings.session_url(session.session_id)) and conn.wait_ready()
    conn.close()
    ready = [s for s in samples if s.phase == "ready"]
    assert [(s.ok, s.attempt) for s in ready] == [(True, 0), (True, 1)]
    assert session.metrics()["reconnectCount"] == 1 and session.state is State.DISCONNECTED


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(the harness's end, the platform's end) of a loopback TCP connection."""
    server = socket.create_server(("127.0.0.1", 0))
    a = socket.create_connection(server.getsockname())
    b, _ = server.accept()
    server.close()
    yield a, b
    a.close()
    b.close()


def test_buffered_socket_serves_lines_and_small_reads_and_stamps_arrival(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = tcp_pair
    clock = MonotonicClock()
    buffered = BufferedSocket(a, clock)
    b.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgr")
    b.sendall(b"ade: websocket\r\n\r\n\x81\x02hi")
    sent_at = clock.now()
    time.sleep(0.1)  # the bytes wait in the kernel: their arrival time must not include this
    assert buffered.readline() == b"HTTP/1.1 101 Switching Protocols\r\n"
    assert buffered.readline() == b"Upgrade: websocket\r\n"
    assert buffered.readline() == b"\r\n"
    assert buffered.recv(2) == b"\x81\x02" and buffered.recv(10) == b"hi"
    assert buffered.arrived is not None
    if buffered.kernel_timestamps:  # Linux: when the bytes arrived, not when they were read
        assert buffered.arrived - sent_at < 0.05
    else:
        assert buffered.arrived - sent_at >= 0.1


def test_read_frame_parses_lengths_and_resumes_a_partial_frame_after_a_timeout(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = tcp_pair
    buffered = BufferedSocket(a, MonotonicClock())
    buffered.settimeout(0.05)
    long = b"x" * 300  # a 16-bit length
    b.sendall(b"\x01\x03abc" + b"\x80\x02de" + b"\x81\x7e" + len(long).to_bytes(2, "big"))
    assert buffered.read_frame() == (False, 1, b"abc")  # a first fragment
    assert buffered.read_frame() == (True, 0, b"de")  # its continuation, final
    with pytest.raises(TimeoutError):  # header read, payload not yet sent
        buffered.read_frame()
    b.sendall(long[:100])
    with pytest.raises(TimeoutError):
        buffered.read_frame()
    b.sendall(long[100:] + b"\x89\x00" + b"\x81\x82mask")  # then a ping, then a masked frame
    assert buffered.read_frame() == (True, 1, long)
    assert buffered.read_frame() == (True, 9, b"")
    with pytest.raises(ConnectionError):  # a server must not mask its frames
        buffered.read_frame()


def test_read_frame_reports_the_end_of_the_connection(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = tcp_pair
    buffered = BufferedSocket(a, MonotonicClock())
    b.sendall(b"\x81\x05hel")  # a frame cut short by the end of the connection
    b.close()
    with pytest.raises(ConnectionError):
        buffered.read_frame()


def test_a_closed_connection_is_freed_without_the_cyclic_collector(
    fast_platform: RunningPlatform,
) -> None:
    """Full collections are off during a run: a connection must not leave a cycle behind."""

    settings = load_settings(cli={"ws_url": fast_platform.base}, environ={})
    session = ClientSession(settings.session_settings(), MonotonicClock())
    conn = Connection(session)
    gc.disable()
    try:
        assert conn.open(settings.session_url(session.session_id))
        ws = weakref.ref(conn._ws)  # type: ignore[arg-type]
        conn.close()
        del conn
        assert ws() is None
    finally:
        gc.enable()
