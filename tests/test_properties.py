"""Generated junk for every reader and parser: each either succeeds or raises HarnessError with
a one-line message; nothing else escapes. Inputs start valid and are then mutated (types
swapped, nan/inf, negatives, keys deleted, text garbled), so most get past the first parse.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli
from harness.analysis.benchmarks import load_benchmarks, parse_check, parse_range
from harness.analysis.rundata import load_run
from harness.config import FIELDS, env_names, load_settings
from harness.errors import HarnessError
from harness.load.scenario import load_scenario
from harness.nightly.baseline import load_baseline
from harness.record.runfile import read_histograms, read_run_json, sample_files
from tests.rundirs import T0, hdr, run_body

# HARNESS_PROPERTY_EXAMPLES=2000 hunts longer (the suite's default keeps the file under 30 s).
EXAMPLES = int(os.environ.get("HARNESS_PROPERTY_EXAMPLES", "60"))
FEW = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(
    max_examples=max(EXAMPLES // 4, 10),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def refused_in_one_line(call: Callable[[], Any]) -> Any:
    """Run `call`: its result, or None if it raised HarnessError with a one-line message."""
    try:
        return call()
    except HarnessError as exc:
        message = str(exc)
        assert message.strip(), "an empty error message"
        assert len(message.splitlines()) == 1, message
        return None


# -- junk, and mutations of good structures -------------------------------------------------

NUMBERS = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, -0.0, 1e308, 2**63, 1.5, -1e-9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
)
JUNK = st.one_of(
    NUMBERS,
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.sampled_from(["", "nan", "inf", "-1", "1.2.3", "ws://h:99999", "x" * 200, "\x00", "é"]),
    st.builds(list),  # a fresh empty list each time (st.just would share one)
    st.builds(dict),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=2),
)


def mutate_once(data: st.DataObject, value: Any) -> Any:
    """`value` with one thing somewhere in it replaced by junk, or deleted."""
    if isinstance(value, dict) and value and data.draw(st.integers(0, 3)):
        key = data.draw(st.sampled_from(sorted(value, key=str)))
        new = dict(value)
        action = data.draw(st.sampled_from(["deeper", "junk", "delete", "add"]))
        if action == "delete":
            del new[key]
        elif action == "junk":
            new[key] = data.draw(JUNK)
        elif action == "add":
            new[data.draw(st.text(min_size=1, max_size=6))] = data.draw(JUNK)
        else:
            new[key] = mutate_once(data, value[key])
        return new
    if isinstance(value, list) and value and data.draw(st.integers(0, 3)):
        i = data.draw(st.integers(0, len(value) - 1))
        new_list = list(value)
        new_list[i] = mutate_once(data, value[i])
        return new_list
    return data.draw(JUNK)


def mutated(data: st.DataObject, value: Any) -> Any:
    value = copy.deepcopy(value)
    for _ in range(data.draw(st.integers(1, 3))):
        value = mutate_once(data, value)
    return value


def toml(value: Any) -> str:
    """A tiny TOML writer (inline tables), enough for junk: nan/inf, nested tables, lists."""

    def one(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(str(k))} = {one(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(one(x) for x in v) + "]"
        return json.dumps("null" if v is None else str(v))

    if not isinstance(value, dict):  # the whole document was swapped for junk
        value = {"junk": value}
    return "".join(f"{json.dumps(str(k))} = {one(v)}\n" for k, v in value.items())


def garble(data: st.DataObject, text: str) -> bytes:
    """Text with a slice replaced by junk bytes, or truncated."""
    raw = text.encode()
    if not raw:
        return data.draw(st.binary(max_size=20))
    i = data.draw(st.integers(0, len(raw)))
    j = data.draw(st.integers(i, min(len(raw), i + 20)))
    return (
        raw[:i] + data.draw(st.binary(max_size=12)) + (raw[j:] if data.draw(st.booleans()) else b"")
    )


# -- settings ---------------------------------------------------------------------------------

ENV_NAMES = sorted({env for name in FIELDS for env in env_names(name)})
ENV_VALUES = st.one_of(JUNK.map(str), st.text(max_size=12))


@FEW
@given(st.dictionaries(st.sampled_from(ENV_NAMES), ENV_VALUES, max_size=4))
def test_load_settings_from_any_environment(environ: dict[str, str]) -> None:
    s = refused_in_one_line(lambda: load_settings(environ=environ))
    if s is not None:  # accepted: every number is finite
        for name in FIELDS:
            value = getattr(s, name)
            if isinstance(value, float):
                assert math.isfinite(value), (name, value)


@FEW
@given(st.data())
def test_load_settings_from_any_env_file(data: st.DataObject) -> None:
    lines = data.draw(st.lists(st.tuples(st.sampled_from(ENV_NAMES), ENV_VALUES), max_size=4))
    text = "".join(f"{k}={v}\n" for k, v in lines)
    raw = garble(data, text) if data.draw(st.booleans()) else text.encode()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ".env"
        path.write_bytes(raw)
        refused_in_one_line(lambda: load_settings(environ={}, env_file=path))


@FEW
@given(st.dictionaries(st.sampled_from(sorted(FIELDS)), JUNK, max_size=3))
def test_load_settings_from_any_scenario_table(table: dict[str, Any]) -> None:
    refused_in_one_line(lambda: load_settings(environ={}, scenario=table))


# -- scenarios --------------------------------------------------------------------------------

GOOD_SCENARIO: dict[str, Any] = {
    "description": "generated",
    "user_class": "LifecycleUser",
    "users": {
        "chats_per_session": 1,
        "think_time_s": [0.2, 0.5],
        "message_length": 80,
        "pause_s": 0.5,
        "start_spread_s": 1.0,
        "chat_interval_s": 60.0,
        "session_duration_s": 0.0,
    },
    "stages": [{"duration_s": 5, "users": 2, "spawn_rate": 2}],
    "settings": {"connection_timeout_ms": 5000, "tenant_id": "t"},
    "platform": {"profile": "fast", "knobs": {"init_ms": 10}, "seed": 3, "workers": 1},
    "drop_at_s": 3,
    "health": {"max_loop_lag_ms": 10},
}
GOOD_ARRIVAL = {
    **{k: v for k, v in GOOD_SCENARIO.items() if k != "stages"},
    "arrival": {"rate": 1, "duration_s": 5, "process": "poisson", "schedulers": 1, "drain_s": 1},
}


def _finite_everywhere(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, tuple | list):
        return all(_finite_everywhere(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return all(_finite_everywhere(getattr(value, f)) for f in value.__dataclass_fields__)
    return True


@FEW
@given(st.data())
def test_load_scenario_of_mutated_toml(data: st.DataObject) -> None:
    body = mutated(data, data.draw(st.sampled_from([GOOD_SCENARIO, GOOD_ARRIVAL])))
    text = toml(body)
    raw = garble(data, text) if data.draw(st.integers(0, 4)) == 0 else text.encode()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.toml"
        path.write_bytes(raw)
        scenario = refused_in_one_line(lambda: load_scenario(str(path)))
    if scenario is not None:  # accepted: nothing non-finite, negative or upside down
        assert _finite_everywhere(scenario), scenario
        if scenario.knobs.think_time_s is not None:
            low, high = scenario.knobs.think_time_s
            assert 0 <= low <= high
        assert scenario.duration_s > 0
        refused_in_one_line(lambda: load_settings(environ={}, scenario=scenario.settings))


@FEW
@given(st.binary(max_size=200))
def test_load_scenario_of_random_bytes(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.toml"
        path.write_bytes(raw)
        refused_in_one_line(lambda: load_scenario(str(path)))


# -- benchmarks -------------------------------------------------------------------------------

GOOD_BENCH: dict[str, Any] = {
    "phases": {
        "ready": {
            "documented": "400-600ms",
            "description": "ready",
            "checks": ["p95 < 600ms", "max < 10s"],
        },
        "connect": {"checks": "p95 < 200ms"},
    },
    "errors": {"ready_timeout": "rate < 1%", "*": "rate < 2%"},
    "analysis": {"warmup_s": 0, "confidence": 0.95},
}
CHECKISH = st.from_regex(
    r"(p50|p90|p95|p99|p99\.9|max|mean|p97) ?(<|<=|>)? ?[0-9.e-]{0,6} ?(us|µs|ms|s|min)?",
    fullmatch=True,
)
RANGEISH = st.from_regex(r"[0-9.-]{0,6} ?-? ?[0-9.]{0,5} ?(us|ms|s|h)?", fullmatch=True)


@FEW
@given(st.data())
def test_load_benchmarks_of_mutated_toml(data: st.DataObject) -> None:
    body = mutated(data, GOOD_BENCH)
    if data.draw(st.booleans()):  # a good table but for one generated check
        body = copy.deepcopy(GOOD_BENCH)
        body["phases"]["ready"]["checks"] = [data.draw(CHECKISH)]
    text = toml(body)
    raw = garble(data, text) if data.draw(st.integers(0, 4)) == 0 else text.encode()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.toml"
        path.write_bytes(raw)
        bench = refused_in_one_line(lambda: load_benchmarks(path))
    if bench is not None:  # accepted: at least one check, finite limits, rates of 0-100 %
        assert bench.checks
        assert all(math.isfinite(c.limit_ms) and c.limit_ms >= 0 for c in bench.checks)
        assert all(0 <= b.rate <= 1 for b in bench.budgets.values())
        assert math.isfinite(bench.warmup_s) and bench.warmup_s >= 0


@FEW
@given(st.one_of(CHECKISH, st.text(max_size=20), JUNK))
def test_parse_check(text: Any) -> None:
    check = refused_in_one_line(lambda: parse_check("ready", text, "checks"))
    if check is not None:
        assert math.isfinite(check.limit_ms) and check.limit_ms >= 0


@FEW
@given(st.one_of(RANGEISH, st.text(max_size=20), JUNK))
def test_parse_range(text: Any) -> None:
    pair = refused_in_one_line(lambda: parse_range(text, "documented"))
    if pair is not None:
        assert 0 <= pair[0] <= pair[1] and math.isfinite(pair[1])


# -- run directories, baselines ---------------------------------------------------------------

GOOD_RUN = run_body(rows=30)
HDR = hdr(30)
GOOD_HISTOGRAMS = {
    "schema_version": 2,
    "phases": {"ready": {"count": 30, "errors": {"dropped": 1}, "hdr": HDR}},
}
SAMPLES = "session_id,phase,start,duration_us,ok,error,attempt,worker\n" + "".join(
    f"s{i},{'ready' if i % 3 else 'connect'},{T0 + i / 10:.6f},{100_000 + i * 7},"
    f"{int(i % 7 != 0)},{'' if i % 7 else 'dropped'},0,local\n"
    for i in range(30)
)


def _run_files(data: st.DataObject, d: Path) -> Path:
    run = d / "run"
    (run / "samples").mkdir(parents=True)
    body = mutated(data, GOOD_RUN) if data.draw(st.integers(0, 3)) else GOOD_RUN
    text = json.dumps(body)
    (run / "run.json").write_bytes(
        garble(data, text) if data.draw(st.integers(0, 6)) == 0 else text.encode()
    )
    hist = mutated(data, GOOD_HISTOGRAMS) if data.draw(st.booleans()) else GOOD_HISTOGRAMS
    (run / "histograms.json").write_text(json.dumps(hist))
    if data.draw(st.integers(0, 3)):  # else: no samples here, the histograms are read
        samples = garble(data, SAMPLES) if data.draw(st.booleans()) else SAMPLES.encode()
        (run / "samples" / "local.csv").write_bytes(samples)
    return run


@FEW
@given(st.data())
def test_run_directory_readers(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        run = _run_files(data, Path(d))
        body = refused_in_one_line(lambda: read_run_json(run))
        if body is not None:
            refused_in_one_line(lambda: sample_files(run, body))
        refused_in_one_line(lambda: read_histograms(run))
        refused_in_one_line(lambda: load_run(run, data.draw(st.sampled_from([0.0, 0.5, 1e9]))))


GOOD_BASELINE: dict[str, Any] = {
    "schema_version": 1,
    "version": 2,
    "created": "2026-09-21T12:00:00+00:00",
    "warmup_s": 5.0,
    "scenario": "smoke",
    "target": "ws://127.0.0.1:1",
    "runs": [{"run_id": "r1", "git_commit": None}],
    "trials": {"ready": {"p50": [400.0, 410.0], "p95": [480.0, 490.0], "p99": [490.0, 495.0]}},
    "blocks": {"ready": {"p50": [400.0], "p95": [480.0], "p99": [490.0]}},
}


@FEW
@given(st.data())
def test_baseline_reader(data: st.DataObject) -> None:
    body = mutated(data, GOOD_BASELINE)
    text = json.dumps(body)
    raw = garble(data, text) if data.draw(st.integers(0, 4)) == 0 else text.encode()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "baseline.json"
        path.write_bytes(raw)
        refused_in_one_line(lambda: load_baseline(path))


# -- through the command line -----------------------------------------------------------------


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


@SOME
@given(st.data())
def test_commands_on_damaged_runs_and_baselines(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        run = _run_files(data, root)
        baseline = root / "reports" / "baseline" / "baseline.json"
        baseline.parent.mkdir(parents=True)
        baseline.write_text(json.dumps(mutated(data, GOOD_BASELINE)))
        reports = str(root / "reports")
        argv = data.draw(
            st.sampled_from(
                [
                    ["report", str(run), "--warmup", "0"],
                    ["compare", str(baseline), str(run)],
                    ["compare", str(run), str(run), "--min-change", "5"],
                    ["baseline", "show", "--reports-dir", reports],
                    ["baseline", "set", str(run), "--reports-dir", reports],
                ]
            )
        )
        code, out, err = _main(argv)
    assert "Traceback" not in out + err, err
    assert code in (0, 1, 2), (code, err)
    if code == 2:
        assert len([line for line in err.splitlines() if line.strip()]) <= 1, err
