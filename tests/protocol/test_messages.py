import json

import pytest

from harness.protocol import messages as m


def test_iso_timestamp_matches_javascript_to_iso_string() -> None:
    assert m.iso_timestamp(1752683847.888) == "2025-07-16T16:37:27.888Z"


def test_auth_frame_has_every_documented_field() -> None:
    frame = json.loads(m.auth_frame("miptech-company", "sid", "UA", "http://x/", 1752683847.888))
    assert frame == {
        "type": "auth",
        "data": {
            "tenant_id": "miptech-company",
            "session_id": "sid",
            "user_agent": "UA",
            "page_url": "http://x/",
            "timestamp": "2025-07-16T16:37:27.888Z",
        },
    }


def test_parse_the_documents_connection_ready_example() -> None:
    frame = json.dumps(
        {
            "type": "connection_ready",
            "data": {
                "client_id": "418e162d-870a-4081-989e-7e222d6f188f",
                "tenant_id": "miptech-company",
                "ready_duration": 0.0001347064971923828,
            },
        }
    )
    assert m.parse_server_frame(frame) == m.ConnectionReady(
        "418e162d-870a-4081-989e-7e222d6f188f", "miptech-company", 0.0001347064971923828
    )


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        (m.encode("typing", {}), m.Typing(True)),
        (m.encode("stop_typing", {}), m.Typing(False)),
        (m.encode("pong", {"timestamp": "t"}), m.Pong("t")),
        (m.encode("connection_established", {"client_id": "c"}), m.ConnectionEstablished("c")),
        (m.encode("error", {"code": "not_ready", "message": "no"}), m.PlatformError("not_ready", "no", None)),
        (m.encode("chat_message", {"role": "assistant", "content": "hi", "in_reply_to": "a", "done": True}),
         m.AssistantChunk("a", "hi", True)),
        (m.encode("chat_message", {"role": "user", "content": "echo"}), m.UnknownMessage("chat_message/user")),
        (m.encode("brand_new", {}), m.UnknownMessage("brand_new")),
        ('{"type": "status"}', m.Status({})),
    ],
)  # fmt: skip
def test_parse_server_frames_into_typed_events(frame: str, event: m.ServerEvent) -> None:
    assert m.parse_server_frame(frame) == event


@pytest.mark.parametrize(
    "frame", ["nope", "[]", '{"data": {}}', '{"type": 3}', '{"type": "x", "data": 1}', b"\xff"]
)
def test_malformed_frames_raise(frame: str | bytes) -> None:
    with pytest.raises(m.MalformedFrame):
        m.decode(frame)
