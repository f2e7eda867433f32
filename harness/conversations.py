"""What simulated users say: conversations read from a JSONL or CSV file, and tenant mixes.

JSONL (.jsonl, .ndjson): one JSON object per line, blank lines allowed.
    {"turns": ["hi", {"text": "and refunds?", "think_s": 4, "step": "billing"}],
     "step": "pricing_question", "tenant": "acme"}
    {"text": "hello"}          one turn; may also carry think_s, step, tenant
A null value is the same as leaving the key out.

CSV (.csv): a header row with a `text` column, optionally `conversation` (consecutive rows
with one id are one conversation, in order; without it each row is one), `think_s`, `step`
(per turn) and `tenant` (the same on every row of a conversation). An empty cell: not given.

Every problem is one ConfigError line naming the file, the line and what is allowed.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checks import number, range_problem, read_text
from harness.config import setting_problem
from harness.errors import ConfigError

BUNDLED = Path(__file__).parent / "data" / "support_chat.jsonl"
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
MAX_BYTES = 64 * 1024 * 1024
MAX_CONVERSATIONS = 1_000_000
MAX_THINK_S = 3600.0
CSV_COLUMNS = ("conversation", "text", "think_s", "step", "tenant")
CONVERSATION_KEYS = ("turns", "tenant", "step")
SHORTHAND_KEYS = ("text", "think_s", "step", "tenant")
TURN_KEYS = ("text", "think_s", "step")

_STEP = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# C0 controls but newline and tab; lone surrogates (a JSON "\ud800") cannot be sent as UTF-8.
_BAD_CHAR = re.compile("[\x00-\x08\x0b-\x1f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Turn:
    text: str
    think_s: float | None = None  # pause before this turn, seconds (None: the run's knob)
    step: str | None = None  # step name for this turn's reply (None: the conversation's)


@dataclass(frozen=True, slots=True)
class Conversation:
    turns: tuple[Turn, ...]  # at least one
    tenant: str | None = None  # None: the run's tenant (or its tenant mix)
    step: str | None = None  # default step name for its turns


# -- one value each ---------------------------------------------------------------------------


def _text(value: object, what: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{what}: expected a string, got {value!r:.60}")
    if not value.strip():
        raise ConfigError(f"{what}: {value!r:.60} is empty; expected text to send")
    if len(value) > max_length:
        raise ConfigError(
            f"{what}: {len(value)} characters; at most {max_length} allowed"
            " (the platform refuses longer messages)"
        )
    bad = _BAD_CHAR.search(value)
    if bad:
        raise ConfigError(
            f"{what}: character {bad.group()!r} at position {bad.start()} is not allowed;"
            " no control characters but newline and tab, no lone surrogates"
        )
    return value


def _think(value: object, what: str) -> float | None:
    if value is None:
        return None
    return number(value, what, 0, MAX_THINK_S)


def _step(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _STEP.fullmatch(value):
        raise ConfigError(
            f"{what}: {value!r:.80} is not allowed; expected 1-64 letters, digits, '_', '.' or '-'"
        )
    return value


def _tenant(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{what}: expected a tenant id (text), got {value!r:.60}")
    problem = setting_problem("tenant_id", value)
    if problem:
        raise ConfigError(f"{what}: tenant {value!r:.80} {problem}")
    return value


def _keys(data: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ConfigError(f"{what}: unknown key {unknown[0]!r:.60}; allowed: {', '.join(allowed)}")


# -- JSONL ------------------------------------------------------------------------------------


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a key given twice is refused (JSON would keep the last silently)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"key {key!r:.60} appears twice")
        data[key] = value
    return data


def _turn(value: object, what: str, max_length: int, sub: str = ".") -> Turn:
    """A turn: a string, or an object whose fields are named `what` + `sub` + key."""
    if isinstance(value, str):
        return Turn(_text(value, what, max_length))
    if not isinstance(value, dict):
        raise ConfigError(
            f"{what}: expected a string or an object with {', '.join(TURN_KEYS)}, got {value!r:.60}"
        )
    _keys(value, TURN_KEYS, what)
    if "text" not in value:
        raise ConfigError(f"{what}: needs a 'text'")
    return Turn(
        _text(value["text"], f"{what}{sub}text", max_length),
        _think(value.get("think_s"), f"{what}{sub}think_s"),
        _step(value.get("step"), f"{what}{sub}step"),
    )


def _jsonl_line(line: str, where: str, max_length: int) -> Conversation:
    try:
        data = json.loads(line, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    except ValueError as exc:  # a key twice; an integer too long to convert
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{where}: not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f'{where}: expected an object such as {{"turns": ["hi"]}} or {{"text": "hi"}},'
            f" got {data!r:.60}"
        )
    if "turns" not in data:  # the one-turn shorthand
        _keys(data, (*SHORTHAND_KEYS, "turns"), where)
        if "text" not in data:
            raise ConfigError(f"{where}: needs 'turns' (a list) or 'text' (one turn)")
        own = {k: v for k, v in data.items() if k in ("text", "think_s")}
        return Conversation(
            (_turn(own, where, max_length, ": "),),
            _tenant(data.get("tenant"), f"{where}: tenant"),
            _step(data.get("step"), f"{where}: step"),
        )
    _keys(data, CONVERSATION_KEYS, where)
    turns = data["turns"]
    if not isinstance(turns, list) or not turns:
        raise ConfigError(f"{where}: turns must be a non-empty list, got {turns!r:.60}")
    return Conversation(
        tuple(_turn(t, f"{where}: turns[{i}]", max_length) for i, t in enumerate(turns)),
        _tenant(data.get("tenant"), f"{where}: tenant"),
        _step(data.get("step"), f"{where}: step"),
    )


def _from_jsonl(text: str, label: str, max_length: int) -> list[Conversation]:
    found: list[Conversation] = []
    for number_, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{label}: line {number_}"
        if len(found) == MAX_CONVERSATIONS:
            raise ConfigError(f"{where}: more than {MAX_CONVERSATIONS} conversations")
        found.append(_jsonl_line(line, where, max_length))
    return found


# -- CSV --------------------------------------------------------------------------------------


def _cell(row: dict[str, str], name: str) -> str | None:
    """A cell's value stripped, None if the column is absent or the cell empty."""
    value = row.get(name, "").strip()
    return value or None


def _csv_think(value: str | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        parsed: object = float(value)
    except ValueError:
        parsed = value  # not a number: number() refuses it with the allowed range
    return number(parsed, what, 0, MAX_THINK_S)


def _from_csv(text: str, label: str, max_length: int) -> list[Conversation]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    found: list[Conversation] = []
    turns: list[Turn] = []
    current: tuple[str | None, str | None] | None = None  # (id, tenant) of the open one
    seen: dict[str, int] = {}  # conversation id -> its first line
    line = 0

    def close() -> None:
        if turns:
            found.append(Conversation(tuple(turns), current[1] if current else None))
            turns.clear()

    while True:
        start = line + 1
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            raise ConfigError(f"{label}: line {start}: not valid CSV ({exc})") from None
        line = reader.line_num
        if cells is None:
            break
        if not cells:  # a blank line
            continue
        where = f"{label}: line {start}"
        if header is None:
            header = [c.strip() for c in cells]
            for name in header:
                if name not in CSV_COLUMNS:
                    raise ConfigError(
                        f"{where}: unknown column {name!r:.60} in the header;"
                        f" allowed: {', '.join(CSV_COLUMNS)} (a 'text' column is required)"
                    )
                if header.count(name) > 1:
                    raise ConfigError(f"{where}: column {name!r} appears twice in the header")
            if "text" not in header:
                raise ConfigError(f"{where}: the header row needs a 'text' column")
            continue
        if len(cells) != len(header):
            raise ConfigError(
                f"{where}: {len(cells)} fields; the header has {len(header)} ({', '.join(header)})"
            )
        row = dict(zip(header, cells, strict=True))
        turn = Turn(
            _text(row["text"], f"{where}: text", max_length),
            _csv_think(_cell(row, "think_s"), f"{where}: think_s"),
            _step(_cell(row, "step"), f"{where}: step"),
        )
        tenant = _tenant(_cell(row, "tenant"), f"{where}: tenant")
        ident = _cell(row, "conversation")
        if "conversation" in header and ident is None:
            raise ConfigError(f"{where}: empty conversation id; give every row one")
        if ident is None or current is None or ident != current[0]:
            close()
            if ident is not None:
                if ident in seen:
                    raise ConfigError(
                        f"{where}: conversation {ident!r:.60} already ended at line"
                        f" {seen[ident]}; the rows of one conversation must be consecutive"
                    )
                seen[ident] = start
            if len(found) == MAX_CONVERSATIONS:
                raise ConfigError(f"{where}: more than {MAX_CONVERSATIONS} conversations")
            current = (ident, tenant)
        elif tenant != current[1]:
            raise ConfigError(
                f"{where}: tenant {tenant or '(none)'!r} differs from the conversation's"
                f" {current[1] or '(none)'!r}; one conversation has one tenant"
            )
        turns.append(turn)
    if header is None:
        raise ConfigError(
            f"{label}: empty; expected a header row naming the columns ({', '.join(CSV_COLUMNS)})"
        )
    close()
    return found


# -- files ------------------------------------------------------------------------------------


def load_conversations(path: Path, max_message_length: int = 4000) -> tuple[Conversation, ...]:
    """Conversations from a .jsonl/.ndjson or .csv file, every value checked."""
    label = f"conversations {path}"
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{label}: unknown file type; expected one of {', '.join(SUFFIXES)}")
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # missing or unreadable: read_text says which
    if size > MAX_BYTES:
        raise ConfigError(f"{label}: {size} bytes; at most 64 MB ({MAX_BYTES} bytes) allowed")
    text = read_text(path, "conversations").removeprefix("\ufeff")  # a BOM, as spreadsheets write
    read = _from_jsonl if kind == "jsonl" else _from_csv
    found = read(text, label, max_message_length)
    if not found:
        raise ConfigError(f"{label}: no conversations in the file")
    return tuple(found)


@functools.cache
def bundled(max_message_length: int = 4000) -> tuple[Conversation, ...]:
    """The bundled support-chat corpus (read once), each turn cut to `max_message_length`
    characters (the client refuses longer ones, as a team's `.env` may set it lower)."""
    return tuple(
        dataclasses.replace(
            c,
            turns=tuple(
                dataclasses.replace(t, text=t.text[:max_message_length])
                if len(t.text) > max_message_length
                else t
                for t in c.turns
            ),
        )
        for c in load_conversations(BUNDLED)
    )


def pick(conversations: Sequence[Conversation], rng: random.Random) -> Conversation:
    """One conversation, uniformly."""
    return rng.choice(conversations)


# -- tenant mixes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantMix:
    weights: tuple[tuple[str, float], ...]  # (tenant, share), shares summing to 1

    def pick(self, rng: random.Random) -> str:
        names = [name for name, _ in self.weights]
        return rng.choices(names, [share for _, share in self.weights])[0]

    @property
    def text(self) -> str:
        """As parse_tenants takes it, shares in percent: 'a:70,b:30'."""
        return ",".join(f"{name}:{share * 100:.6g}" for name, share in self.weights)


def parse_tenants(text: str, what: str = "--tenants") -> TenantMix:
    """'a:70,b:30' (relative weights), 'a' (a:1) or 'a,b' (equal) as a TenantMix."""
    usage = "expected tenant[:weight],... e.g. a:70,b:30"
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{what}: {text!r:.60} is empty; {usage}")
    where = f"{what} {text!r:.200}"
    raw: dict[str, float] = {}
    for part in text.split(","):
        name, colon, weight_text = part.strip().partition(":")
        name = name.strip()
        if not name:
            raise ConfigError(f"{where}: an empty entry; {usage}")
        problem = setting_problem("tenant_id", name)
        if problem:
            raise ConfigError(f"{where}: tenant {name!r:.60} {problem}")
        if name in raw:
            raise ConfigError(f"{where}: tenant {name!r} appears twice")
        try:
            weight = float(weight_text) if colon else 1.0
        except ValueError:
            weight = math.nan
        if range_problem(weight, 0, above=True):
            raise ConfigError(
                f"{where}: weight {weight_text.strip()!r:.60} of {name!r} is not allowed;"
                " expected a finite number > 0"
            )
        raw[name] = weight
    top = max(raw.values())  # scaled first: a sum of huge weights stays finite
    scaled = {name: weight / top for name, weight in raw.items()}
    total = sum(scaled.values())
    shares = tuple((name, weight / total) for name, weight in scaled.items())
    if any(share == 0 for _, share in shares):
        raise ConfigError(f"{where}: weights too far apart; a tenant would never be picked")
    return TenantMix(shares)
