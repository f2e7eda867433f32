"""The shape of the JSON files the harness reads back (run.json, histograms.json, a baseline):
checked once when read, so no reader meets a string where it counts, a list where it looks
keys up, or a null where it expects a table. A file of the wrong shape is one HarnessError
line naming the file and the first field that is wrong.

A spec is a type or tuple of types (isinstance), a dict (a JSON object whose named keys, if
present, match their specs; "*" matches every value), a one-element list (a JSON array of
that spec), `Maybe(spec)` (null or spec), or `PAIR` (an array of two numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError


@dataclass(frozen=True)
class Maybe:
    spec: Any


PAIR = "pair"
NUM = (int, float)
OPT_NUM = (int, float, type(None))
OPT_STR = (str, type(None))
COUNTS = {"*": int}  # error class -> count

_ACCOUNTING = {
    **dict.fromkeys(
        (
            "started",
            "ready",
            "completed",
            "interrupted",
            "interrupted_explained",
            "interrupted_unexplained",
            "lost",
            "reconnects",
            "in_flight",
        ),
        int,
    ),
    "failed": COUNTS,
    "harness_errors": COUNTS,
    "protocol_violations": COUNTS,
    "labels_dropped": Maybe(COUNTS),
}

RUN_JSON: dict[str, Any] = {
    **dict.fromkeys(
        ("run_id", "status", "started", "ended", "scenario", "target", "stop_reason"), OPT_STR
    ),
    "git_commit": OPT_STR,
    "planned_s": OPT_NUM,
    "actual_s": OPT_NUM,
    "tls_verify": (bool, type(None)),
    "samples": Maybe({"*": dict}),
    "workers_lost": [{"worker": str, "noticed_at": OPT_STR, "last_report_at": OPT_STR}],
    "clocks": Maybe({"*": {"host": OPT_STR, "offset_ms": OPT_NUM, "reports": int}}),
    "host": Maybe({"hostname": OPT_STR}),
    "versions": Maybe(dict),
    "locust": {"html_file": OPT_STR},
    "embedded_platform": Maybe({"url": OPT_STR, "args": Maybe([str])}),
    "health": {
        "valid": (bool, type(None)),
        "reasons": [str],
        "loop_lag_p99_ms": OPT_NUM,
        "cpu_max_pct": OPT_NUM,
        "loop_lag_tolerance_ms": OPT_NUM,
        "processes": {
            "*": {
                "cpu_timeline": Maybe([PAIR]),
                "users_timeline": Maybe([PAIR]),
                "loop_lag_p99_ms": OPT_NUM,
            }
        },
    },
    "accounting": {"total": _ACCOUNTING, "workers": {"*": _ACCOUNTING}},
    "phases": Maybe(dict),
}

HISTOGRAMS_JSON: dict[str, Any] = {
    "phases": {"*": {"count": int, "errors": COUNTS, "hdr": OPT_STR}},
}

_REPLICATES = {"*": {"*": [NUM]}}  # phase -> stat -> one value per replicate

BASELINE_JSON: dict[str, Any] = {
    "version": int,
    "created": str,
    "warmup_s": NUM,
    "scenario": OPT_STR,
    "target": str,
    "runs": [{"run_id": OPT_STR, "git_commit": OPT_STR}],
    "trials": _REPLICATES,
    "blocks": _REPLICATES,
}


def _kind(spec: Any) -> str:
    if isinstance(spec, dict):
        return "an object"
    if isinstance(spec, list):
        return "a list"
    if isinstance(spec, Maybe):
        return _kind(spec.spec) + " or null"
    if spec == PAIR:
        return "a pair of numbers"
    types = spec if isinstance(spec, tuple) else (spec,)
    names = {int: "a whole number", float: "a number", str: "text", bool: "true/false"}
    return " or ".join(names.get(t, "null" if t is type(None) else t.__name__) for t in types)


def _wrong(value: Any, spec: Any) -> bool:
    if isinstance(spec, Maybe):
        return value is not None and _wrong(value, spec.spec)
    if isinstance(spec, dict):
        return not isinstance(value, dict)
    if isinstance(spec, list):
        return not isinstance(value, list)
    if spec == PAIR:
        return not (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, NUM) and not isinstance(v, bool) for v in value)
        )
    types = spec if isinstance(spec, tuple) else (spec,)
    if isinstance(value, bool) and bool not in types:
        return True  # JSON's true is not a count
    return not isinstance(value, types)


def check_shape(value: Any, spec: Any, where: str) -> None:
    """Raise HarnessError naming `where` (a file and a path into it) if `value` does not
    match `spec`."""
    if _wrong(value, spec):
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise HarnessError(f"{where}: {shown} where {_kind(spec)} belongs")
    if isinstance(spec, Maybe):
        if value is not None:
            check_shape(value, spec.spec, where)
    elif isinstance(spec, dict):
        for key, sub in spec.items():
            if key == "*":
                for k, v in value.items():
                    check_shape(v, sub, f"{where}.{k}")
            elif key in value:
                check_shape(value[key], sub, f"{where}.{key}")
    elif isinstance(spec, list):
        for i, v in enumerate(value):
            check_shape(v, spec[0], f"{where}[{i}]")


BY_NAME: dict[str, dict[str, Any]] = {"run.json": RUN_JSON, "histograms.json": HISTOGRAMS_JSON}
"""The spec of each run-directory file the harness reads back, by file name."""
