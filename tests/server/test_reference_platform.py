"""Every platform rule of the reference server, over real sockets."""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import websocket

from harness.protocol import messages as m
from harness.server.groundtruth import read_ground_truth
from tests.conftest import RunningPlatform


def connect(url: str) -> websocket.WebSocket:
    ws = websocket.WebSocket()
    ws.connect(url, timeout=5)
    return ws


def recv_event(ws: websocket.WebSocket) -> tuple[str, dict[str, object]]:
    return m.decode(ws.recv())


def recv_until(ws: websocket.WebSocket, kind: str) -> dict[str, object]:
    for _ in range(20):
        got, data = recv_event(ws)
        if got == kind:
            return data
    raise AssertionError(f"no {kind}")


def close_code(ws: websocket.WebSocket) -> int:
    """Read until the platform's close frame; its status code."""
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", frame.data[:2])[0]


def ready_socket(p: RunningPlatform, session: str = "s-1") -> websocket.WebSocket:
    ws = connect(p.session_url(session=session))
    ws.send(m.auth_frame("miptech-company", session, "ua", "url", 0))
    recv_until(ws, "connection_ready")
    return ws


def test_missing_tenant_or_session_closes_1008(fast_platform: RunningPlatform) -> None:
    ws = connect(f"{fast_platform.base}/api/v1/ws/chat?session_id=x")
    assert close_code(ws) == 1008
    ws = connect(f"{fast_platform.base}/api/v1/ws/chat?tenant_id=x")
    assert close_code(ws) == 1008


def test_auth_tenant_differing_from_url_closes_1008(fast_platform: RunningPlatform) -> None:
    ws = connect(fast_platform.session_url(tenant="a"))
    ws.send(m.auth_frame("b", "s-1", "ua", "url", 0))
    assert recv_until(ws, "error")["code"] == "tenant_mismatch"
    assert close_code(ws) == 1008


def test_full_exchange_established_ready_chat_pong(fast_platform: RunningPlatform) -> None:
    ws = connect(fast_platform.session_url())
    kind, data = recv_event(ws)
    assert kind == "connection_established" and data["session_id"] == "s-1"
    ws.send(m.chat_frame("too early", "m0", "s-1", 0))
    assert recv_until(ws, "error") == {
        "code": "not_ready",
        "message": "connection not ready",
        "in_reply_to": "m0",
    }
    ws.send(m.auth_frame("miptech-company", "s-1", "ua", "url", 0))
    ready = recv_until(ws, "connection_ready")
    assert ready["tenant_id"] == "miptech-company" and isinstance(ready["ready_duration"], float)
    ws.send(m.chat_frame("hello there", "m1", "s-1", 0))
    kinds: list[str] = []
    while not kinds or kinds[-1] != "stop_typing":
        kind, data = recv_event(ws)
        kinds.append(kind)
        if kind == "chat_message":
            assert data["in_reply_to"] == "m1" and data["role"] == "assistant"
    assert kinds == ["typing", "chat_message", "chat_message", "chat_message", "stop_typing"]
    ws.send(m.encode("ping", {"timestamp": "T1"}))
    assert recv_until(ws, "pong") == {"timestamp": "T1"}
    ws.close()


def test_message_too_long_and_rate_limited(fast_platform: RunningPlatform) -> None:
    ws = ready_socket(fast_platform)
    ws.send(m.chat_frame("x" * 4001, "long", "s-1", 0))
    assert recv_until(ws, "error")["code"] == "message_too_long"
    for i in range(10):
        ws.send(m.chat_frame("ok", f"m{i}", "s-1", 0))
        recv_until(ws, "stop_typing")
    ws.send(m.chat_frame("one too many", "m10", "s-1", 0))
    error = recv_until(ws, "error")
    assert error["code"] == "rate_limited" and error["in_reply_to"] == "m10"
    ws.close()


def test_bad_and_unknown_messages_answered_without_closing(fast_platform: RunningPlatform) -> None:
    ws = ready_socket(fast_platform)
    ws.send("this is not json")
    assert recv_until(ws, "error")["code"] == "bad_message"
    ws.send(m.encode("teleport", {}))
    assert recv_until(ws, "error")["code"] == "unknown_type"
    ws.send(m.encode("ping", {"timestamp": "still here"}))
    assert recv_until(ws, "pong") == {"timestamp": "still here"}
    ws.close()


def test_no_auth_in_time_closes_1008(platform_factory: Callable[..., RunningPlatform]) -> None:
    p = platform_factory("--profile", "fast", "--auth-timeout-ms", "300")
    ws = connect(p.session_url())
    assert recv_until(ws, "error")["code"] == "auth_timeout"
    assert close_code(ws) == 1008


def test_only_the_configured_tenant_is_accepted(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    p = platform_factory("--profile", "fast", "--tenant", "acme")
    assert close_code(connect(p.session_url(tenant="miptech-company"))) == 1008
    ws = connect(p.session_url(tenant="acme"))
    assert recv_event(ws)[0] == "connection_established"
    ws.close()


def test_unknown_paths_are_404(fast_platform: RunningPlatform) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        connect(fast_platform.session_url(path="/ws"))
    assert exc.value.status_code == 404


def test_drop_closes_every_session_1001(fast_platform: RunningPlatform) -> None:
    sockets = [ready_socket(fast_platform, f"d{i}") for i in range(3)]
    fast_platform.drop_all()
    assert [close_code(ws) for ws in sockets] == [1001, 1001, 1001]


def test_fault_knobs_never_ready_and_1011(platform_factory: Callable[..., RunningPlatform]) -> None:
    p = platform_factory("--profile", "fast", "--set", "server_error_rate=1")
    ws = connect(p.session_url())
    ws.send(m.auth_frame("miptech-company", "s-1", "ua", "url", 0))
    assert close_code(ws) == 1011
    p = platform_factory("--profile", "fast", "--set", "ready_timeout_rate=1")
    ws = connect(p.session_url())
    ws.send(m.auth_frame("miptech-company", "s-1", "ua", "url", 0))
    recv_until(ws, "connection_established")
    ws.settimeout(0.5)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()  # nothing comes: the client would time out


def test_ground_truth_records_each_session(
    platform_factory: Callable[..., RunningPlatform], tmp_path: Path
) -> None:
    p = platform_factory(
        "--profile", "fast", "--set", "init_ms=50", "--ground-truth", str(tmp_path)
    )
    ws = ready_socket(p, "gt-1")
    ws.send(m.chat_frame("hi", "m1", "gt-1", 0))
    recv_until(ws, "stop_typing")
    ws.close()
    p.process.terminate()
    p.process.wait(10)
    events = [e for e in read_ground_truth(tmp_path) if e["session_id"] == "gt-1"]
    assert [e["event"] for e in events] == ["open", "auth", "ready", "chat", "reply_done", "close"]
    t = {e["event"]: float(e["t"]) for e in events}  # type: ignore[arg-type]
    assert 0.049 <= t["ready"] - t["auth"] < 0.2
    assert events[3]["message_id"] == "m1"
    if sys.platform == "linux":  # the auth's time is when its bytes reached the machine
        assert events[1]["stamp"] == "kernel"


def test_kernel_stamped_reads_keep_the_arrival_time_when_the_loop_is_late() -> None:
    """The platform's ground truth must not include its own event loop's delay."""
    import asyncio
    import socket
    import time

    from harness.server.app import KernelStampedReads

    if sys.platform != "linux":
        pytest.skip("SO_TIMESTAMPNS is Linux's")
    got: dict[str, float] = {}

    class Stamped(asyncio.Protocol):
        reads: KernelStampedReads | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.reads = KernelStampedReads.install(transport)

        def data_received(self, data: bytes) -> None:
            assert self.reads is not None  # asyncio's selector transport over plain TCP
            got["arrived"], got["read"] = self.reads.arrived or 0.0, time.perf_counter()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Stamped, "127.0.0.1", 0)
        client = socket.create_connection(server.sockets[0].getsockname())
        await asyncio.sleep(0.05)  # accepted, reads installed
        client.sendall(b"auth")
        got["sent"] = time.perf_counter()
        time.sleep(0.2)  # the loop is busy: it reads the bytes 200 ms late
        for _ in range(100):
            if "read" in got:
                break
            await asyncio.sleep(0.01)
        client.close()
        server.close()

    asyncio.run(main())
    assert got["read"] - got["sent"] >= 0.2
    assert abs(got["arrived"] - got["sent"]) < 0.02


def test_two_workers_share_one_port(platform_factory: Callable[..., RunningPlatform]) -> None:
    p = platform_factory("--profile", "fast", "--workers", "2")
    pids = set()
    for _i in range(40):
        pids.add(p.stats()["pid"])
        if len(pids) == 2:
            break
    assert len(pids) == 2
    sockets = [ready_socket(p, f"w{i}") for i in range(4)]
    p.drop_all()
    assert [close_code(ws) for ws in sockets] == [1001] * 4  # every worker dropped its own


def test_full_garbage_collections_wait_until_no_session_is_open(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    """Under load a full collection paused a worker 250-605 ms: the platform runs them only
    once it has been idle for a second."""
    import time

    p = platform_factory("--profile", "fast")

    sockets = [ready_socket(p, f"gc{i}") for i in range(3)]
    sockets.pop().close()  # one goes cleanly; two stay open
    time.sleep(1.5)
    assert p.stats().get("gc_idle_collections", 0) == 0  # sessions open: never
    for ws in sockets:
        ws.sock.close()  # abruptly, no close frame (the kind that leaves a cycle)
    for _ in range(30):
        time.sleep(0.2)
        if p.stats().get("gc_idle_collections", 0) >= 1:
            break
    after = p.stats()
    assert after["gc_idle_collections"] == 1 and after["open"] == 0
    assert after["gc_pause_max_ms"] > 0
