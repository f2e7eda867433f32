"""The platform's rule book without sockets (the same rules over sockets: tests/server)."""

from harness.protocol import messages as m
from harness.protocol.platform import (
    Close,
    PlatformRules,
    PlatformSession,
    Reply,
    Send,
    StartInit,
)


def opened(**rules: object) -> PlatformSession:
    ps = PlatformSession(PlatformRules(**rules), opened_at=0.0)  # type: ignore[arg-type]
    ps.open({"tenant_id": "t", "session_id": "s"})
    return ps


def error_code(actions: list) -> str:
    [send] = actions
    kind, data = m.decode(send.frame)
    assert kind == "error"
    return str(data["code"])


def auth(tenant: str = "t") -> str:
    return m.auth_frame(tenant, "s", "ua", "url", 0)


def test_open_requires_tenant_and_session() -> None:
    ps = PlatformSession(PlatformRules(), 0.0)
    assert ps.open({"tenant_id": "t"}) == [Close(1008, "tenant_id and session_id are required")]
    ps = PlatformSession(PlatformRules(tenant_id="only"), 0.0)
    assert isinstance(ps.open({"tenant_id": "t", "session_id": "s"})[0], Close)


def test_open_sends_established_unless_told_not_to() -> None:
    ps = PlatformSession(PlatformRules(send_established=False), 0.0)
    assert ps.open({"tenant_id": "t", "session_id": "s"}) == []


def test_auth_then_ready_then_chat() -> None:
    ps = opened()
    assert ps.auth_deadline == 10.0
    assert ps.receive(auth(), 0.1) == [StartInit()]
    assert ps.auth_deadline is None
    assert error_code(ps.receive(m.chat_frame("hi", "m1", "s", 0), 0.2)) == "not_ready"
    kind, data = m.decode(ps.ready(0.5))
    assert kind == "connection_ready" and abs(data["ready_duration"] - 0.4) < 1e-9
    assert ps.receive(m.chat_frame("hi", "m1", "s", 0), 0.6) == [Reply("m1", "hi")]


def test_auth_tenant_mismatch_closes_1008() -> None:
    actions = opened().receive(auth("other"), 0.1)
    assert isinstance(actions[-1], Close) and actions[-1].code == 1008


def test_chat_limits() -> None:
    ps = opened(rate_limit_requests=2, rate_limit_window_s=60)
    ps.receive(auth(), 0)
    ps.ready(0)
    assert error_code(ps.receive(m.chat_frame("x" * 4001, "a", "s", 0), 1)) == "message_too_long"
    assert isinstance(ps.receive(m.chat_frame("x" * 4000, "b", "s", 0), 1)[0], Reply)
    assert isinstance(ps.receive(m.chat_frame("y", "c", "s", 0), 2)[0], Reply)
    assert error_code(ps.receive(m.chat_frame("z", "d", "s", 0), 3)) == "rate_limited"
    assert isinstance(ps.receive(m.chat_frame("z", "e", "s", 0), 61.5)[0], Reply)


def test_bad_and_unknown_frames_get_errors_not_closes() -> None:
    ps = opened()
    assert error_code(ps.receive("{{{", 0)) == "bad_message"
    assert error_code(ps.receive(m.encode("what", {}), 0)) == "unknown_type"
    [pong] = ps.receive(m.encode("ping", {"timestamp": "T"}), 0)
    assert isinstance(pong, Send) and m.decode(pong.frame) == ("pong", {"timestamp": "T"})


def test_reply_frames_stream_chunks_and_done() -> None:
    ps = opened()
    frames = [m.parse_server_frame(f) for f in ps.reply_frames("m1", "hello world", 3)]
    assert frames[0] == m.Typing(True) and frames[-1] == m.Typing(False)
    chunks = frames[1:-1]
    assert [c.done for c in chunks] == [False, False, True]  # type: ignore[union-attr]
    assert {c.in_reply_to for c in chunks} == {"m1"}  # type: ignore[union-attr]
    no_done = opened(send_done=False).reply_frames("m1", "hi", 2)
    assert all("done" not in m.decode(f)[1] for f in no_done)
