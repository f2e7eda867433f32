"""Conversation files (JSONL and CSV), the bundled corpus, and tenant mixes."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import statistics
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import conversations as conv
from harness.conversations import (
    BUNDLED,
    Conversation,
    TenantMix,
    Turn,
    bundled,
    load_conversations,
    parse_tenants,
    pick,
)
from harness.errors import ConfigError, HarnessError

EXAMPLES = int(os.environ.get("HARNESS_PROPERTY_EXAMPLES", "60"))
FEW = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


# -- JSONL ------------------------------------------------------------------------------------


def test_jsonl_turns_shorthand_and_overrides(tmp_path: Path) -> None:
    lines = [
        json.dumps({"turns": ["hi", "and prices?"], "step": "pricing"}),
        "",
        "   ",
        json.dumps(
            {
                "turns": ["hello", {"text": "refund?", "think_s": 4.5, "step": "billing"}],
                "tenant": "acme-1",
            }
        ),
        json.dumps({"text": "one\nturn\twith tab", "think_s": 0, "step": "x.y_z-1"}),
        json.dumps({"text": "hey", "tenant": "t.2", "think_s": None, "step": None}),
        json.dumps({"turns": [{"text": "only", "think_s": 3600}]}),
    ]
    path = write(tmp_path, "c.jsonl", "\ufeff" + "\r\n".join(lines) + "\r\n")
    assert load_conversations(path) == (
        Conversation((Turn("hi"), Turn("and prices?")), step="pricing"),
        Conversation(
            (Turn("hello"), Turn("refund?", 4.5, "billing")),
            tenant="acme-1",
        ),
        Conversation((Turn("one\nturn\twith tab", 0.0),), step="x.y_z-1"),
        Conversation((Turn("hey"),), tenant="t.2"),
        Conversation((Turn("only", 3600.0),)),
    )


def test_ndjson_suffix_and_message_length(tmp_path: Path) -> None:
    path = write(tmp_path, "c.NDJSON", json.dumps({"text": "x" * 50}) + "\n")
    assert load_conversations(path, max_message_length=50)[0].turns[0].text == "x" * 50
    path = write(tmp_path, "d.ndjson", json.dumps({"text": "x" * 51}))
    with pytest.raises(ConfigError, match="51 characters; at most 50"):
        load_conversations(path, max_message_length=50)


# -- CSV --------------------------------------------------------------------------------------


def test_csv_groups_rows_by_conversation_id(tmp_path: Path) -> None:
    out = io.StringIO()
    rows = [
        ["conversation", "text", "think_s", "step", "tenant"],
        ["1", "hi", "", "", ""],
        ["1", "what does Team cost?", "2.5", "pricing", ""],
        [],  # a blank line between rows is skipped
        ["b", "line one\nline two", "", "", "acme"],
        ["b", "thanks", "0", "smalltalk", "acme"],
    ]
    csv.writer(out).writerows(rows)
    path = write(tmp_path, "c.csv", out.getvalue())
    assert load_conversations(path) == (
        Conversation((Turn("hi"), Turn("what does Team cost?", 2.5, "pricing"))),
        Conversation(
            (Turn("line one\nline two"), Turn("thanks", 0.0, "smalltalk")),
            tenant="acme",
        ),
    )


def test_csv_without_conversation_column_is_one_turn_each(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", ' text , step\nhi,greet\n"a, b",\nhi,greet\n')
    assert load_conversations(path) == (
        Conversation((Turn("hi", step="greet"),)),
        Conversation((Turn("a, b"),)),
        Conversation((Turn("hi", step="greet"),)),
    )


def test_csv_error_line_counts_multiline_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", 'text\n"two\nlines"\n\n"bad\x01"\n')
    with pytest.raises(ConfigError, match="line 5: text"):
        load_conversations(path)


# -- bad files --------------------------------------------------------------------------------

LONG = "x" * 4001
BAD: list[tuple[str, str, str | bytes, str, int | None]] = [
    # (id, file name, content, in the message, line)
    ("empty jsonl", "c.jsonl", "", "no conversations", None),
    ("blank lines only", "c.jsonl", "\n  \n\t\n", "no conversations", None),
    ("invalid json", "c.jsonl", "{text: 'hi'}", "not valid JSON", 1),
    ("invalid json later", "c.jsonl", '{"text": "a"}\n\n{"text": "b"', "not valid JSON", 3),
    ("json array", "c.jsonl", '["hi"]', "expected an object", 1),
    ("json string", "c.jsonl", '"hi"', "expected an object", 1),
    ("json null", "c.jsonl", "null", "expected an object", 1),
    ("turns empty", "c.jsonl", '{"turns": []}', "non-empty list", 1),
    ("turns not list", "c.jsonl", '{"turns": "hi"}', "non-empty list", 1),
    ("turns null", "c.jsonl", '{"turns": null}', "non-empty list", 1),
    ("text number", "c.jsonl", '{"text": 5}', "expected a string", 1),
    ("text empty", "c.jsonl", '{"text": ""}', "empty", 1),
    ("text whitespace", "c.jsonl", '{"text": " \\n\\t "}', "empty", 1),
    ("turn text empty", "c.jsonl", '{"turns": ["ok", "  "]}', "turns[1]", 1),
    ("text too long", "c.jsonl", json.dumps({"text": LONG}), "4001 characters; at most 4000", 1),
    ("text NUL", "c.jsonl", '{"text": "a\\u0000b"}', "'\\x00' at position 1", 1),
    ("text escape code", "c.jsonl", '{"text": "\\u001b[31mred"}', "'\\x1b'", 1),
    ("text carriage return", "c.jsonl", '{"text": "a\\r\\nb"}', "'\\r'", 1),
    ("text lone surrogate", "c.jsonl", '{"text": "a\\ud800"}', "surrogate", 1),
    ("think_s negative", "c.jsonl", '{"text": "a", "think_s": -1}', "think_s", 1),
    ("think_s too big", "c.jsonl", '{"text": "a", "think_s": 3601}', "<= 3600", 1),
    ("think_s bool", "c.jsonl", '{"text": "a", "think_s": true}', "think_s: True", 1),
    ("think_s string", "c.jsonl", '{"turns": [{"text": "a", "think_s": "3"}]}', "think_s", 1),
    ("think_s nan", "c.jsonl", '{"text": "a", "think_s": NaN}', "finite", 1),
    ("think_s infinity", "c.jsonl", '{"text": "a", "think_s": Infinity}', "finite", 1),
    ("think_s huge int", "c.jsonl", '{"text": "a", "think_s": 1' + "0" * 400 + "}", "finite", 1),
    ("think_s 5000 digits", "c.jsonl", '{"text": "a", "think_s": 1' + "0" * 5000 + "}", "JSON", 1),
    ("step space", "c.jsonl", '{"text": "a", "step": "two words"}', "1-64 letters", 1),
    ("step brace", "c.jsonl", '{"text": "a", "step": "x}"}', "1-64 letters", 1),
    ("step too long", "c.jsonl", json.dumps({"text": "a", "step": "s" * 65}), "1-64", 1),
    ("step empty", "c.jsonl", '{"turns": ["a"], "step": ""}', "1-64", 1),
    ("step number", "c.jsonl", '{"turns": [{"text": "a", "step": 7}]}', "1-64", 1),
    ("tenant space", "c.jsonl", '{"text": "a", "tenant": "a b"}', "letters, digits", 1),
    ("tenant empty", "c.jsonl", '{"turns": ["a"], "tenant": ""}', "letters, digits", 1),
    ("tenant number", "c.jsonl", '{"text": "a", "tenant": 5}', "tenant id", 1),
    ("unknown key", "c.jsonl", '{"text": "a", "speaker": "me"}', "unknown key 'speaker'", 1),
    ("text with turns", "c.jsonl", '{"turns": ["a"], "text": "b"}', "unknown key 'text'", 1),
    ("unknown turn key", "c.jsonl", '{"turns": [{"text": "a", "delay": 1}]}', "'delay'", 1),
    ("turn without text", "c.jsonl", '{"turns": [{"step": "a"}]}', "needs a 'text'", 1),
    ("turn a number", "c.jsonl", '{"turns": ["a", 3]}', "turns[1]", 1),
    ("neither turns nor text", "c.jsonl", '{"step": "a"}', "needs 'turns'", 1),
    ("duplicate key", "c.jsonl", '{"text": "a", "text": "b"}', "appears twice", 1),
    ("nested too deeply", "c.jsonl", "[" * 100_000, "not valid JSON", 1),
    ("not utf-8", "c.jsonl", b'{"text": "caf\xe9"}\n', "not UTF-8", None),
    ("unknown suffix", "c.txt", '{"text": "a"}', ".jsonl, .ndjson, .csv", None),
    ("json suffix", "c.json", '{"text": "a"}', "unknown file type", None),
    ("empty csv", "c.csv", "", "header row", None),
    ("header only", "c.csv", "text,step\n", "no conversations", None),
    ("no text column", "c.csv", "step\nx\n", "needs a 'text' column", 1),
    ("unknown column", "c.csv", "text,message\nhi,x\n", "unknown column 'message'", 1),
    ("data as header", "c.csv", "hello there\nhi\n", "unknown column 'hello there'", 1),
    ("semicolons", "c.csv", "text;step\nhi;x\n", "unknown column 'text;step'", 1),
    ("duplicate column", "c.csv", "text,text\na,b\n", "appears twice", 1),
    ("too many fields", "c.csv", "text\na,b\n", "2 fields; the header has 1", 2),
    ("too few fields", "c.csv", "text,step\n\nhi\n", "1 fields", 3),
    ("unterminated quote", "c.csv", 'text\nok\n"never closed\n', "not valid CSV", 3),
    ("stray quote", "c.csv", 'text\n"a"b\n', "not valid CSV", 2),
    ("csv empty text", "c.csv", "text,step\n,x\n", "empty", 2),
    ("csv text too long", "c.csv", f"text\n{LONG}\n", "4001 characters", 2),
    ("csv NUL", "c.csv", "text\na\x00b\n", "'\\x00'", 2),
    ("csv think_s word", "c.csv", "text,think_s\na,soon\n", "think_s: 'soon'", 2),
    ("csv think_s negative", "c.csv", "text,think_s\na,-1\n", "think_s", 2),
    ("csv think_s nan", "c.csv", "text,think_s\na,nan\n", "finite", 2),
    ("csv step bad", "c.csv", "text,step\na,b/c\n", "1-64", 2),
    ("csv tenant bad", "c.csv", "text,tenant\na,x y\n", "letters, digits", 2),
    (
        "csv tenant differs",
        "c.csv",
        "conversation,text,tenant\n1,a,x\n1,b,y\n",
        "one conversation has one tenant",
        3,
    ),
    (
        "csv tenant dropped",
        "c.csv",
        "conversation,text,tenant\n1,a,x\n1,b,\n",
        "one conversation has one tenant",
        3,
    ),
    (
        "csv id comes back",
        "c.csv",
        "conversation,text\n1,a\n2,b\n1,c\n",
        "already ended at line 2",
        4,
    ),
    ("csv empty id", "c.csv", "conversation,text\n1,a\n,b\n", "empty conversation id", 3),
    ("csv not utf-8", "c.csv", b"text\n\xff\n", "not UTF-8", None),
]


@pytest.mark.parametrize(
    ("name", "content", "expected", "line"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_files(
    tmp_path: Path, name: str, content: str | bytes, expected: str, line: int | None
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(ConfigError) as caught:
        load_conversations(path)
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    assert str(path) in message
    assert expected in message
    if line is not None:
        assert f": line {line}:" in message


def test_bad_file_table_is_large_and_distinct() -> None:
    assert len(BAD) >= 25
    assert len({(b[1], b[2]) for b in BAD}) == len(BAD)


def test_missing_directory_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_conversations(tmp_path / "absent.jsonl")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_conversations(tmp_path / "dir.csv")
    big = tmp_path / "big.jsonl"
    with big.open("wb") as f:  # sparse: no 64 MB written
        f.truncate(conv.MAX_BYTES + 1)
    with pytest.raises(ConfigError, match="at most 64 MB"):
        load_conversations(big)


def test_conversation_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conv, "MAX_CONVERSATIONS", 3)
    path = write(tmp_path, "c.jsonl", '{"text": "a"}\n' * 3)
    assert len(load_conversations(path)) == 3
    path = write(tmp_path, "c.jsonl", '{"text": "a"}\n' * 4)
    with pytest.raises(ConfigError, match="line 4: more than 3 conversations"):
        load_conversations(path)
    path = write(tmp_path, "c.csv", "conversation,text\n1,a\n1,b\n2,a\n3,a\n4,a\n")
    with pytest.raises(ConfigError, match="line 6: more than 3 conversations"):
        load_conversations(path)


# -- the bundled corpus -----------------------------------------------------------------------


def test_bundled_corpus_is_varied() -> None:
    corpus = bundled()
    assert bundled() is corpus  # read once
    assert BUNDLED.name == "support_chat.jsonl" and BUNDLED.is_file()
    lengths = [len(t.text) for c in corpus for t in c.turns]
    assert 60 <= len(corpus) <= 80
    assert min(lengths) < 20
    assert max(lengths) > 800
    assert max(lengths) <= 4000
    assert 20 < statistics.median(lengths) < 200
    assert sum(len(c.turns) > 1 for c in corpus) >= 10
    assert max(len(c.turns) for c in corpus) >= 4
    assert 6 <= len({c.step for c in corpus}) <= 10
    assert all(c.step for c in corpus)
    assert all(c.tenant is None for c in corpus)
    assert any(t.step for c in corpus for t in c.turns)  # a few turns override the step


def test_pick_is_uniform() -> None:
    corpus = bundled()[:4]
    rng = random.Random(7)
    counts = {id(c): 0 for c in corpus}
    for _ in range(10_000):
        counts[id(pick(corpus, rng))] += 1
    assert all(abs(n / 10_000 - 0.25) < 0.03 for n in counts.values())


# -- tenant mixes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "weights"),
    [
        ("a:70,b:30", (("a", 0.7), ("b", 0.3))),
        ("a", (("a", 1.0),)),
        ("a,b", (("a", 0.5), ("b", 0.5))),
        (" acme : 3 , beta.co_1-x : 1 ", (("acme", 0.75), ("beta.co_1-x", 0.25))),
        ("a:1,b:1e300", (("a", 1e-300), ("b", 1.0))),
        ("a:1e308,b:1e308", (("a", 0.5), ("b", 0.5))),
    ],
)
def test_parse_tenants(text: str, weights: tuple[tuple[str, float], ...]) -> None:
    mix = parse_tenants(text)
    assert [n for n, _ in mix.weights] == [n for n, _ in weights]
    assert [s for _, s in mix.weights] == pytest.approx([s for _, s in weights])
    assert sum(s for _, s in mix.weights) == pytest.approx(1)
    assert dict(parse_tenants(mix.text).weights) == pytest.approx(dict(mix.weights))


def test_tenant_mix_text() -> None:
    assert parse_tenants("a:7,b:3").text == "a:70,b:30"
    assert parse_tenants("a,b,c").text == "a:33.3333,b:33.3333,c:33.3333"


def test_tenant_mix_pick_frequencies() -> None:
    mix = parse_tenants("a:70,b:20,c:10")
    rng = random.Random(42)
    picks = [mix.pick(rng) for _ in range(10_000)]
    for name, share in mix.weights:
        assert abs(picks.count(name) / 10_000 - share) < 0.02
    assert TenantMix((("only", 1.0),)).pick(rng) == "only"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a,,b", "empty entry"),
        ("a,", "empty entry"),
        (":5", "empty entry"),
        ("a b:1", "letters, digits"),
        ("a/b", "letters, digits"),
        ("a:1,a:2", "'a' appears twice"),
        ("a:0", "> 0"),
        ("a:-1", "> 0"),
        ("a:nan", "> 0"),
        ("a:inf", "> 0"),
        ("a:1e400", "> 0"),
        ("a:", "weight ''"),
        ("a:x", "weight 'x'"),
        ("a:70%", "weight '70%'"),
        ("a:1:2", "weight '1:2'"),
        ("a:1e-320,b:1e308", "too far apart"),
        ("a\nb:1", "letters, digits"),
    ],
)
def test_parse_tenants_refuses(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_tenants(text, what="--tenant-mix")
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    assert message.startswith("--tenant-mix")
    assert expected in message


# -- generated junk ---------------------------------------------------------------------------
# Files start valid and are then damaged (a value swapped for junk, a key added or deleted, a
# line cut short, a cell or column changed), so most get past the first parse.

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "a\x00", "\ud800", "x" * 4001, "a b", "3", "-1"]),
    st.builds(list),
    st.builds(dict),
    st.lists(st.text(max_size=4), max_size=2),
)
TEXTS = st.one_of(
    st.sampled_from(["hi", "How much is Team?", "two\nlines", "a\ttab", "caf\u00e9 \u2028"]),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20),
    st.text(min_size=1, max_size=20),
)
OPTIONAL = {
    "think_s": st.sampled_from([0, 1.5, 3600, None]),
    "step": st.sampled_from(["pricing", "a.b-c_1", None]),
    "tenant": st.sampled_from(["acme", "t.2", None]),
}


@st.composite
def fields(draw: st.DrawFn, keys: tuple[str, ...]) -> dict[str, object]:
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)))
    return {key: draw(OPTIONAL[key]) for key in chosen}


@st.composite
def damaged(draw: st.DrawFn, value: dict[str, object]) -> dict[str, object]:
    """`value` with perhaps one key given junk, deleted, or added."""
    action = draw(st.sampled_from(["none"] * 5 + ["junk", "delete", "add"]))
    if action == "add":
        return {**value, draw(st.sampled_from(["other", "text", "turns", "step"])): draw(JUNK)}
    if not value or action == "none":
        return value
    key = draw(st.sampled_from(sorted(value)))
    if action == "delete":
        return {k: v for k, v in value.items() if k != key}
    return {**value, key: draw(JUNK)}


@st.composite
def jsonl_line(draw: st.DrawFn) -> str:
    if draw(st.booleans()):  # the one-turn shorthand
        obj = {"text": draw(TEXTS), **draw(fields(("think_s", "step", "tenant")))}
    else:
        turn = st.builds(
            lambda text, more: {"text": text, **more}, TEXTS, fields(("think_s", "step"))
        )
        turns = draw(st.lists(st.one_of(TEXTS, turn.flatmap(damaged)), min_size=1, max_size=3))
        obj = {"turns": turns, **draw(fields(("step", "tenant")))}
    line = json.dumps(draw(damaged(obj)), ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:
        line = line[: draw(st.integers(0, len(line)))]
    return line


JSONL = st.lists(
    st.one_of(jsonl_line(), jsonl_line(), st.sampled_from(["", " ", "[]", "{"])), max_size=5
).map("\n".join)
CELLS = {
    "conversation": st.sampled_from(["1", "1", "1", "2", "2", "3", " 3 ", ""]),
    "think_s": st.sampled_from(["", "", "0", "2.5", "3600", "-1", "soon"]),
    "step": st.sampled_from(["", "", "pricing", "a.b", "bad step"]),
    "tenant": st.sampled_from(["", "", "", "", "acme", "a b"]),
    "other": st.text(max_size=4),
}


@st.composite
def csv_text(draw: st.DrawFn) -> str:
    header = draw(st.permutations(["text", *draw(fields(("think_s", "step", "tenant")))]))
    if draw(st.booleans()):
        header.append("conversation")
    if draw(st.integers(0, 5)) == 0:  # a bad header: an unknown, repeated or missing column
        header = draw(st.sampled_from([[*header, "other"], [*header, header[0]], header[1:]]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 5))):
        row = [draw(CELLS.get(name, TEXTS)) for name in header]
        if draw(st.integers(0, 9)) == 0:
            row = row[:-1] if draw(st.booleans()) else [*row, "extra"]
        writer.writerow(row)
    return out.getvalue()


def loads_or_refuses(raw: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"junk{suffix}"
        path.write_bytes(raw)
        try:
            found = load_conversations(path)
        except HarnessError as exc:
            message = str(exc)
            assert message.strip() and len(message.splitlines()) == 1, message
            return
        assert found and all(c.turns for c in found)


@FEW
@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".csv"]))
def test_random_bytes_load_or_refuse(raw: bytes, suffix: str) -> None:
    loads_or_refuses(raw, suffix)


@FEW
@given(st.one_of(JSONL.map(lambda t: (t, ".jsonl")), csv_text().map(lambda t: (t, ".csv"))))
def test_mutated_files_load_or_refuse(case: tuple[str, str]) -> None:
    text, suffix = case
    loads_or_refuses(text.encode("utf-8", "surrogatepass"), suffix)


def test_the_bundled_corpus_keeps_a_lower_message_limit() -> None:
    """A team's .env with REACT_APP_CHAT_MAX_MESSAGE_LENGTH=500 once turned a healthy run
    into FAIL (harness_error: MessageTooLong) on the corpus's long turns."""
    short = bundled(500)
    assert max(len(t.text) for c in short for t in c.turns) == 500
    assert len(short) == len(bundled())
