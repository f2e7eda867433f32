"""Small checks every boundary shares: a finite number in a range, a file's text.

Each raises ConfigError with one line naming what was wrong and what is allowed; the caller
says where the value came from in `what` (e.g. "--warmup", "scenario x.toml users.pause_s").
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.errors import ConfigError


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def range_text(
    low: float | None = None, high: float | None = None, *, above: bool = False, whole: bool = False
) -> str:
    """What is allowed, in words: 'a number > 0', 'a whole number >= 1', 'a number in 0-1'."""
    kind = "a whole number" if whole else "a finite number"
    if low is not None and high is not None:
        return f"{kind} {'>' if above else '>='} {_num(low)} and <= {_num(high)}"
    if low is not None:
        return f"{kind} {'>' if above else '>='} {_num(low)}"
    if high is not None:
        return f"{kind} <= {_num(high)}"
    return kind


def range_problem(
    value: float, low: float | None = None, high: float | None = None, *, above: bool = False
) -> str | None:
    """Why a number is not finite in [low, high] ((low, high] when `above`); None if it is."""
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    wrong = (
        not finite
        or (low is not None and (value <= low if above else value < low))
        or (high is not None and value > high)
    )
    return f"must be {range_text(low, high, above=above)}" if wrong else None


def number(
    value: object,
    what: str,
    low: float | None = None,
    high: float | None = None,
    *,
    above: bool = False,
) -> float:
    """`value`, which must be an int or a float (not text, not a bool), checked finite and
    within bounds; returned as a float."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    try:
        parsed = float(value) if ok else math.nan  # type: ignore[arg-type]
    except OverflowError:
        parsed = math.nan
    if not ok or range_problem(parsed, low, high, above=above):
        allowed = range_text(low, high, above=above)
        raise ConfigError(f"{what}: {value!r} is not allowed; expected {allowed}")
    return parsed


def whole(value: object, what: str, low: float | None = None, high: float | None = None) -> int:
    """`value`, which must be an int (not a float, not text), within bounds."""
    if not isinstance(value, int) or isinstance(value, bool) or range_problem(value, low, high):
        allowed = range_text(low, high, whole=True)
        raise ConfigError(f"{what}: {value!r} is not allowed; expected {allowed}")
    return value


def read_text(path: Path, what: str) -> str:
    """A UTF-8 text file's content; ConfigError (one line) if it is missing, a directory,
    unreadable or not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {path}: not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path}: is a directory, not a file") from None
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
