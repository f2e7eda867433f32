"""The WebSocket wire format without I/O: the handshake's request and response check, frames."""

from __future__ import annotations

import os
import struct
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import wire
from harness.wire import HandshakeRejected, Opcode

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 1.3's example
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def response(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


GOOD = ("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade")


def test_accept_is_rfc_6455s_example() -> None:
    assert wire.accept_for(KEY) == ACCEPT


def test_the_request_names_host_port_resource_and_the_given_headers() -> None:
    request = wire.handshake_request(
        "example.com", 8000, False, "/api/v1/ws/chat?tenant_id=t", KEY, ("Origin: http://x",)
    ).decode()
    lines = request.split("\r\n")
    assert lines[0] == "GET /api/v1/ws/chat?tenant_id=t HTTP/1.1"
    assert "Host: example.com:8000" in lines and f"Sec-WebSocket-Key: {KEY}" in lines
    assert "Upgrade: websocket" in lines and "Connection: Upgrade" in lines
    assert "Sec-WebSocket-Version: 13" in lines and lines[-3] == "Origin: http://x"
    assert request.endswith("\r\n\r\n")


@pytest.mark.parametrize(
    ("host", "port", "secure", "authority"),
    [
        ("h", 80, False, "h"),
        ("h", 443, True, "h"),
        ("h", 443, False, "h:443"),
        ("::1", 9, False, "[::1]:9"),
    ],
)
def test_the_host_header_leaves_out_the_schemes_port(
    host: str, port: int, secure: bool, authority: str
) -> None:
    assert (
        f"\r\nHost: {authority}\r\n"
        in wire.handshake_request(host, port, secure, "/", KEY).decode()
    )


@pytest.mark.parametrize(
    "head",
    [
        response(*GOOD, f"Sec-WebSocket-Accept: {ACCEPT}"),
        response(
            "HTTP/1.1 101 OK",
            "upgrade: WebSocket",
            "CONNECTION: keep-alive, upgrade",
            f"sec-websocket-accept:{ACCEPT}",
        ),
        (
            f"HTTP/1.1 101 x\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: {ACCEPT}\n\n"
        ).encode(),
    ],
)
def test_a_valid_101_passes(head: bytes) -> None:
    wire.check_response(head, KEY)


@pytest.mark.parametrize(
    "extra",
    [
        "Server: a\u2028b",  # characters str.splitlines() would split a header at
        "X-A: a\x0cb",
        "Server: a\x1cb",
        "Connection: keep-alive",  # a second Connection header adds to the first
        "Sec-WebSocket-Extensions:",  # empty: nothing negotiated
    ],
)
def test_a_valid_101_passes_with_odd_but_lawful_headers(extra: str) -> None:
    wire.check_response(response(*GOOD, extra, f"Sec-WebSocket-Accept: {ACCEPT}"), KEY)


def test_a_subprotocol_passes_only_when_offered() -> None:
    head = response(*GOOD, f"Sec-WebSocket-Accept: {ACCEPT}", "Sec-WebSocket-Protocol: chat")
    wire.check_response(head, KEY, ("Sec-WebSocket-Protocol: json, chat",))
    with pytest.raises(HandshakeRejected, match="subprotocol"):
        wire.check_response(head, KEY)
    with pytest.raises(HandshakeRejected, match="subprotocol"):
        wire.check_response(head, KEY, ("Sec-WebSocket-Protocol: json",))


@pytest.mark.parametrize(
    ("head", "said", "status"),
    [
        (response("HTTP/1.1 403 Forbidden", "Content-Length: 0"), "HTTP 403 Forbidden", 403),
        (response("HTTP/1.1 302 Found", "Location: ws://elsewhere/"), "HTTP 302 Found", 302),
        (response("HTTP/1.1 200"), "HTTP 200", 200),
        (response("HTTP/1.1 abc Switching"), "Invalid status line", None),
        (response("SSH-2.0-OpenSSH_9.6"), "Invalid status line", None),
        (b"\xff\xfe garbage\r\n\r\n", "not UTF-8", None),
        (response(*GOOD, "no colon here", f"Sec-WebSocket-Accept: {ACCEPT}"), "Invalid header line", 101),
        (response(GOOD[0], GOOD[2], f"Sec-WebSocket-Accept: {ACCEPT}"), "Upgrade", 101),
        (response(GOOD[0], GOOD[1], "Connection: keep-alive", f"Sec-WebSocket-Accept: {ACCEPT}"), "Connection", 101),
        (response(*GOOD), "Sec-WebSocket-Accept", 101),
        (response(*GOOD, f"Sec-WebSocket-Accept: {ACCEPT.lower()}"), "Sec-WebSocket-Accept", 101),
        (response(*GOOD, "Sec-WebSocket-Accept: " + wire.accept_for("another key")), "Sec-WebSocket-Accept", 101),
        (response(*GOOD, "Sec-WebSocket-Accept: x", f"Sec-WebSocket-Accept: {ACCEPT}"), "Sec-WebSocket-Accept", 101),
        (response(*GOOD, f"X-Note: a\rSec-WebSocket-Accept: {ACCEPT}"), "Sec-WebSocket-Accept", 101),
        (response(*GOOD, f"Sec-WebSocket-Accept: {ACCEPT}", "Sec-WebSocket-Extensions: permessage-deflate"), "extension", 101),
        (response("HTTP/1.1 \u00b9\u2070\u00b9 OK"), "Invalid status line", None),
        (response("HTTP/1.1 \uff11\uff10\uff11 OK"), "Invalid status line", None),
        (response("HTTP/1.1 0101 OK"), "Invalid status line", None),
        (response("HTTP/banana 101 OK"), "Invalid status line", None),
    ],
)  # fmt: skip
def test_anything_but_a_valid_101_is_rejected_in_words(
    head: bytes, said: str, status: int | None
) -> None:
    with pytest.raises(HandshakeRejected) as refused:
        wire.check_response(head, KEY)
    assert said in str(refused.value) and refused.value.status == status


def unmask(data: bytes) -> tuple[int, bytes, bytes, bytes]:
    """(first byte, payload, mask, the bytes after it) of the first client frame in `data`,
    checked as a server would."""
    first, second = data[0], data[1]
    assert second & 0x80, "a client frame must be masked"
    length, at = second & 0x7F, 2
    if length == 126:
        (length,), at = struct.unpack("!H", data[2:4]), 4
    elif length == 127:
        (length,), at = struct.unpack("!Q", data[2:10]), 10
    mask, end = data[at : at + 4], at + 4 + length
    payload = data[at + 4 : end]
    assert len(payload) == length
    return first, bytes(b ^ mask[i % 4] for i, b in enumerate(payload)), mask, data[end:]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
def test_frames_of_every_length_form_unmask_to_their_payload(size: int) -> None:
    payload = os.urandom(size)
    first, got, _, rest = unmask(wire.frame(Opcode.BINARY, payload))
    assert first == 0x82 and got == payload and rest == b""


@given(st.lists(st.text(max_size=300), max_size=5))
def test_text_frames_carry_each_message_in_utf8(messages: list[str]) -> None:
    data, found = wire.text_frames(messages), []
    while data:
        first, payload, _, data = unmask(data)
        assert first == 0x81
        found.append(payload.decode())
    assert found == messages


def test_masks_differ_from_frame_to_frame() -> None:
    masks = {unmask(wire.frame(Opcode.TEXT, b"x"))[2] for _ in range(2000)}
    assert len(masks) > 1990  # 4 random bytes each: a repeat in 2,000 is rare, not 10


def test_a_close_frame_carries_its_code_and_a_reason_cut_at_a_character() -> None:
    first, payload, _, _ = unmask(wire.close_frame(1002, "é".encode() * 100))
    assert first == 0x88 and struct.unpack("!H", payload[:2])[0] == 1002
    assert len(payload) <= 125 and payload[2:].decode() == "é" * 61


def test_threads_never_draw_the_same_random_bytes() -> None:
    """discovery opens its connections from threads: a key or mask must not be shared."""
    drawn: list[bytes] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [
            threading.Thread(
                target=lambda: drawn.extend(wire.random_bytes(4) for _ in range(20_000))
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(drawn) == 80_000
    # 4 random bytes: a few honest repeats in 80,000 (the birthday bound is ~0.7); a shared
    # pool gives hundreds
    assert len(drawn) - len(set(drawn)) < 10


def test_a_forked_child_does_not_reuse_its_parents_random_bytes() -> None:
    wire.random_bytes(4)  # drawn in the parent first (a pool of them would be filled)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, wire.random_bytes(16))
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) != wire.random_bytes(16)
