import contextlib
import json
import os
import random
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.protocol import messages as m
from harness.protocol.session import new_id


def test_iso_timestamp_matches_javascript_to_iso_string() -> None:
    assert m.iso_timestamp(1752683847.888) == "2025-07-16T16:37:27.888Z"


@settings(max_examples=3000)
@given(st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False))
def test_iso_timestamp_equals_datetimes_formatting(epoch: float) -> None:
    """The cached seconds and the milliseconds round as datetime does (1.001 is not .000)."""
    expected = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert m.iso_timestamp(epoch) == expected
    assert m.iso_timestamp(epoch + 1.5)[:19] != expected[:19]  # the next second's text


def test_new_ids_are_version_4_uuids_and_differ_in_a_forked_child() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(uuid.UUID(i).version == 4 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child's first id, which a copied generator would repeat
        os.write(write, new_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 64).decode() != new_id()


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


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b'{"type":"status","data":{"x":"\xff"}}', 1007),
        ("[" * 100_000 + "]" * 100_000, 1002),
        ("{" * 50_000, 1002),
        ('{"type":"connection_ready","data":{"ready_duration":' + "9" * 400 + "}}", 1002),
        ('{"type":"connection_ready","data":{"ready_duration":-Infinity}}', 1002),
        ('{"type":"status","data":{}} trailing', 1002),
    ],
)
def test_a_frame_the_harness_cannot_accept_raises_malformed_frame_with_its_close_code(
    frame: str | bytes, code: int
) -> None:
    with pytest.raises(m.MalformedFrame) as caught:
        m.parse_server_frame(frame)
    assert caught.value.close_code == code


def test_depth_counts_brackets_outside_strings_only() -> None:
    text = "[" * 70 + "]" * 70
    frame = m.encode("status", {"text": text, "x": [[1]]})  # depth 4, 140 brackets in a string
    assert m.parse_server_frame(frame, max_depth=4) == m.Status({"text": text, "x": [[1]]})
    with pytest.raises(m.MalformedFrame, match="nested deeper than 3"):
        m.parse_server_frame(frame, max_depth=3)
    escaped = m.encode("status", {"q": 'a "quoted" [ and \\ ['})  # escapes inside a string
    assert m.parse_server_frame(escaped, max_depth=2) == m.Status({"q": 'a "quoted" [ and \\ ['})


def test_no_input_escapes_as_anything_but_malformed_frame() -> None:
    """Mutations of valid frames (bytes flipped, cut, repeated, numbers blown up): every
    outcome is an event or MalformedFrame."""
    rng = random.Random(6455)
    valid = [
        m.encode("connection_ready", {"client_id": "c", "ready_duration": 0.25}).encode(),
        m.encode("chat_message", {"role": "assistant", "in_reply_to": "a", "done": True}).encode(),
        m.encode("error", {"code": "rate_limited", "message": "x", "in_reply_to": "a"}).encode(),
        b'{"type":"pong","data":{"timestamp":"t"}}',
    ]
    pieces = [b"[", b"{", b"]", b"}", b'"', b"\\", b"9" * 400, b"1e999", b"\xff", b"\xed\xa0\x80"]
    for _ in range(3000):
        frame = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(frame))
            choice = rng.random()
            if choice < 0.4:
                frame[at:at] = rng.choice(pieces) * rng.choice([1, 1, 2, 100, 5000])
            elif choice < 0.7:
                frame[at] = rng.randrange(256)
            else:
                del frame[at : at + rng.randint(1, 10)]
        for variant in (bytes(frame), bytes(frame).decode("utf-8", "replace")):
            with contextlib.suppress(m.MalformedFrame):
                m.parse_server_frame(variant)


# orjson reads and writes the usual frames; these hold it to exactly what json does.

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # past 64 bits: orjson makes floats
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
ODD_FRAMES = [
    b'{"type":"x","data":{"n":18446744073709551616}}',  # orjson: a float; json: an int
    b'{"type":"x","data":{"n":-9223372036854775809}}',
    b'{"type":"x","data":{"n":1e400}}',  # orjson refuses; json: inf
    b'{"type":"x","data":{"s":"\\ud800"}}',  # a lone surrogate escape: json reads it
    b'{"type":"x","data":{"a":1,"b":2,"a":3}}',  # a repeated key: the last wins
    b'\xef\xbb\xbf{"type":"x"}',  # a byte order mark
    b'{"type":"x","data":{"s":"\x01"}}',  # a control character inside a string
    b'{"type":"x","data":{"n":NaN}}',
    b'{"type":"x","data":{"s":"\xed\xa0\x80"}}',  # a surrogate in UTF-8: not UTF-8
    b'{"type":"x","data":{"n":-0}} \t\r\n',
    b'{"type":"x","data":{"n":' + b"[" * 100 + b"]" * 100 + b"}}",  # deeper than the limit
]


def outcome(frame: str | bytes) -> str:
    """What decode makes of a frame, types and key order included (1 and 1.0 differ)."""
    try:
        return repr(m.decode(frame))
    except m.MalformedFrame as exc:
        return f"MalformedFrame({exc.close_code}, {exc})"


def assert_decoded_as_json_does(frame: bytes) -> None:
    try:
        text = frame.decode()
    except UnicodeDecodeError:
        assert outcome(frame).startswith(f"MalformedFrame({m.CloseCode.INVALID_DATA}, not UTF-8")
        return
    assert outcome(frame) == outcome(text)  # a str goes to json alone


@pytest.mark.parametrize("frame", ODD_FRAMES)
def test_where_orjson_and_json_differ_a_frame_is_read_as_json_reads_it(frame: bytes) -> None:
    assert_decoded_as_json_does(frame)


def test_an_integer_past_64_bits_stays_an_integer() -> None:
    assert m.decode(ODD_FRAMES[0]) == ("x", {"n": 2**64})
    assert type(m.decode(ODD_FRAMES[0])[1]["n"]) is int


def nested(shape: str, levels: int) -> bytes:
    """`levels` arrays or objects inside one another (a "[" or a "{" inside a string too)."""
    if shape == "objects":
        return b'{"a":' * levels + b"1" + b"}" * levels
    if shape == "arrays":
        return b"[" * levels + b"]" * levels
    opening = [b'{"s":"[{[{","a":' if level % 2 else b"[" for level in range(levels)]
    closing = [b"}" if level % 2 else b"]" for level in reversed(range(levels))]
    return b"".join(opening) + b"0" + b"".join(closing)


@pytest.mark.parametrize("shape", ["objects", "arrays", "mixed with brackets in strings"])
@pytest.mark.parametrize("max_depth", [1, 2, 3, 64, 500])
def test_depth_at_and_around_the_limit_is_judged_as_json_judges_it(
    shape: str, max_depth: int
) -> None:
    for depth in range(max(max_depth - 2, 1), max_depth + 3):
        frame = b'{"type":"x","data":' + nested(shape, depth - 1) + b"}" if depth > 1 else b"{}"
        assert outcome_at(frame, max_depth) == outcome_at(frame.decode(), max_depth), depth
    frame = b'{"type":"x","data":' + nested(shape, max_depth) + b"}"
    assert "nested deeper than" in outcome_at(frame, max_depth)


def outcome_at(frame: str | bytes, max_depth: int, stack: int = 0) -> str:
    """outcome() with `max_depth`, called `stack` frames deep."""
    if stack:
        return outcome_at(frame, max_depth, stack - 1)
    try:
        return repr(m.decode(frame, max_depth))
    except m.MalformedFrame as exc:
        return f"MalformedFrame({exc.close_code}, {exc})"


def test_a_deep_frame_in_a_deep_stack_is_still_only_malformed() -> None:
    """Walking orjson's result for floats recurses: where the stack runs out, json decides
    (as it always did), and nothing but MalformedFrame escapes."""
    frame = b'{"type":"x","data":' + nested("arrays", 498) + b"}"
    for stack in range(400, 560, 8):
        assert outcome_at(frame, 500, stack) == outcome_at(frame.decode(), 500, stack), stack


@settings(max_examples=400)
@given(JSON_VALUES, st.booleans(), st.booleans())
def test_any_json_frame_is_read_as_json_reads_it(value: object, ascii: bool, wrap: bool) -> None:
    message = {"type": "x", "data": value} if wrap else value
    text = json.dumps(message, ensure_ascii=ascii)
    assert_decoded_as_json_does(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300)
@given(st.binary(max_size=60), st.integers(0, 3))
def test_any_bytes_are_read_as_json_reads_them(noise: bytes, where: int) -> None:
    valid = [
        b'{"type":"assistant_chunk","data":{"chunk":"a","in_reply_to":"b"}}',
        b'{"type":"pong","data":{"timestamp":"t","n":[1,{"m":null}]}}',
    ][where % 2]
    at = len(valid) * where // 4
    assert_decoded_as_json_does(valid[:at] + noise + valid[at:])


ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates too


@example({"content": "caf\u00e9 \ud83d"}, "chat_message")
@given(st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=5), ANY_TEXT)
def test_client_frames_are_json_stringify_and_always_utf8(data: dict[str, str], kind: str) -> None:
    frame = m.client_frame(kind, data)
    assert json.loads(frame) == {"type": kind, "data": data}
    frame.encode()  # a lone surrogate would make sending fail: it is escaped instead
    try:
        (kind + "".join(data) + "".join(data.values())).encode()
    except UnicodeEncodeError:
        assert frame == json.dumps({"type": kind, "data": data}, separators=(",", ":"))
    else:  # as the browser's JSON.stringify writes it: other than ASCII as it is
        assert frame == json.dumps(
            {"type": kind, "data": data}, separators=(",", ":"), ensure_ascii=False
        )
