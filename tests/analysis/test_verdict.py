"""Verdicts on synthetic runs with known answers."""

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.analysis.benchmarks import load_benchmarks
from harness.analysis.rundata import PhaseData, RunData
from harness.analysis.verdict import summarise


def phase(ms: np.ndarray, errors: dict[str, int] | None = None) -> PhaseData:
    us = np.sort((ms * 1000).astype(np.int64))
    empty = np.array([])
    return PhaseData(
        us, np.zeros(len(us)), empty, np.array([], dtype=object), Counter(errors or {})
    )


def run(
    phases: dict[str, PhaseData],
    valid: bool = True,
    failed: dict[str, int] | None = None,
    **fields: Any,
) -> RunData:
    info: dict[str, Any] = {
        "run_id": "synthetic",
        "status": "complete",
        "accounting": {
            "total": {
                "started": 1000,
                "ready": 990,
                "completed": 980,
                "failed": failed or {},
                "interrupted": 0,
                "in_flight": 0,
            }
        },
        "health": {
            "valid": valid,
            "reasons": [] if valid else ["process x: event-loop lag p99 50 ms > tolerance 10 ms"],
            "loop_lag_p99_ms": 2.0 if valid else 50.0,
            "cpu_max_pct": 40.0,
        },
    }
    info.update(fields)
    return RunData(Path("."), info, phases, 0.0, 900, 1000, "raw samples")


def documented_phases(
    rng: np.random.Generator, n: int = 2000, init_shift: float = 0.0
) -> dict[str, PhaseData]:
    init = np.clip(rng.normal(400 + init_shift, 45, n), 300, 2000)
    return {
        "connect": phase(rng.uniform(1, 5, n)),
        "auth_delay": phase(rng.uniform(100, 102, n)),
        "platform_init": phase(init),
        "ready": phase(init + 103),
    }


def test_documented_distribution_passes() -> None:
    s = summarise(run(documented_phases(np.random.default_rng(1))), load_benchmarks())
    assert s["verdict"] == "pass", s["checks"]
    assert {c["status"] for c in s["checks"]} == {"pass"}
    init = s["phases"]["platform_init"]
    assert (
        init["p50_ms"]
        == np.percentile(
            documented_phases(np.random.default_rng(1))["platform_init"].ok_us,
            50,
            method="inverted_cdf",
        )
        / 1000
    )


def test_slow_platform_fails_with_the_failing_check_named() -> None:
    s = summarise(
        run(documented_phases(np.random.default_rng(2), init_shift=300)), load_benchmarks()
    )
    assert s["verdict"] == "fail"
    failed = {(c["phase"], c["stat"]) for c in s["checks"] if c["point"] == "fail"}
    assert failed == {("platform_init", "p95"), ("ready", "p95")}


def test_interval_straddling_the_limit_is_borderline() -> None:
    rng = np.random.default_rng(3)
    phases = documented_phases(rng, n=300)
    ready = np.sort(rng.normal(540, 40, 300))  # p95 ~ 606 with a wide interval at n=300
    ready += (
        600 - np.percentile(ready, 95, method="inverted_cdf") - 0.5
    )  # point estimate just under
    phases["ready"] = phase(ready)
    s = summarise(run(phases), load_benchmarks())
    check = next(c for c in s["checks"] if c["phase"] == "ready" and c["stat"] == "p95")
    assert check["status"] == "borderline" and check["point"] == "pass"
    assert check["interval_ms"][0] < 600 < check["interval_ms"][1]


def test_thin_data_is_invalid_and_says_how_many_samples_were_needed() -> None:
    s = summarise(run(documented_phases(np.random.default_rng(4), n=150)), load_benchmarks())
    assert s["verdict"] == "invalid"
    assert "too few samples for connect p95: needs at least 200, got 150" in s["reasons"]


def test_unhealthy_harness_makes_the_run_invalid() -> None:
    s = summarise(run(documented_phases(np.random.default_rng(5)), valid=False), load_benchmarks())
    assert s["verdict"] == "invalid"
    assert "event-loop lag" in s["reasons"][0]


def test_error_budget() -> None:
    s = summarise(
        run(documented_phases(np.random.default_rng(6)), failed={"ready_timeout": 15}),
        load_benchmarks(),
    )
    assert s["verdict"] == "fail"
    budget = next(b for b in s["error_budgets"] if b["error_class"] == "ready_timeout")
    assert budget == {
        "error_class": "ready_timeout",
        "count": 15,
        "rate": 0.015,
        "limit_rate": 0.01,
        "op": "<",
        "status": "fail",
    }


def test_a_run_with_only_merged_histograms_is_analysed_within_their_precision(
    tmp_path: Path,
) -> None:
    import json

    from hdrh.histogram import HdrHistogram

    from harness.analysis.rundata import load_run
    from harness.record.histograms import new_histogram

    values = np.random.default_rng(9).lognormal(13, 0.3, 5000).astype(np.int64)
    hist: HdrHistogram = new_histogram()
    for v in values:
        hist.record_value(int(v))
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 1, "run_id": "h"}))
    (tmp_path / "histograms.json").write_text(
        json.dumps(
            {
                "schema_version": 2,
                "phases": {
                    "ready": {
                        "count": 5000,
                        "errors": {"dropped": 2},
                        "hdr": hist.encode().decode(),
                    }
                },
            }
        )
    )
    data = load_run(tmp_path)
    ready = data.phases["ready"]
    assert (
        data.source == "merged histograms"
        and ready.count == 5000
        and ready.errors == {"dropped": 2}
    )
    assert np.all(np.diff(ready.ok_us) >= 0)
    for q in (50, 95, 99):
        exact = np.percentile(values, q, method="inverted_cdf")
        assert (
            abs(np.percentile(ready.ok_us, q, method="inverted_cdf") - exact) <= exact * 0.001 + 1
        )


def test_a_dead_platform_fails_on_its_connection_budget_not_invalid() -> None:
    """Nothing got ready, so no latency check has samples: the failed budget is the finding."""
    failed_connects = {"connect": phase(np.array([]), {"connection_refused": 1000})}
    s = summarise(run(failed_connects, failed={"connection_refused": 1000}), load_benchmarks())
    assert s["verdict"] == "fail"
    budget = next(b for b in s["error_budgets"] if b["error_class"] == "connection_refused")
    assert budget["status"] == "fail" and budget["rate"] == 1.0
    assert any("too few samples" in r for r in s["reasons"])  # still said


def test_protocol_and_harness_errors_have_zero_budgets_by_default() -> None:
    for error_class in ("protocol_error", "harness_error"):
        s = summarise(
            run(documented_phases(np.random.default_rng(7)), failed={error_class: 1}),
            load_benchmarks(),
        )
        assert s["verdict"] == "fail", error_class
        budget = next(b for b in s["error_budgets"] if b["error_class"] == error_class)
        assert (budget["count"], budget["limit_rate"], budget["status"]) == (1, 0.0, "fail")


def test_a_failed_class_without_a_budget_is_still_shown(tmp_path: Path) -> None:
    table = tmp_path / "b.toml"
    table.write_text(
        '[phases.ready]\nchecks = ["p95 < 600ms"]\n[errors]\nready_timeout = "rate < 1%"\n'
    )
    s = summarise(
        run(documented_phases(np.random.default_rng(8)), failed={"dropped": 3}),
        load_benchmarks(table),
    )
    row = next(b for b in s["error_budgets"] if b["error_class"] == "dropped")
    assert (row["count"], row["status"], row["limit_rate"]) == (3, "unbudgeted", None)


def test_a_stopped_run_cannot_pass_but_can_fail() -> None:
    stopped = {"status": "stopped", "planned_s": 25.0, "actual_s": 8.0}
    s = summarise(run(documented_phases(np.random.default_rng(9)), **stopped), load_benchmarks())
    assert s["verdict"] == "invalid"
    assert any("stopped after 8.0 s of its planned 25.0 s" in r for r in s["reasons"])
    slow = documented_phases(np.random.default_rng(9), init_shift=400)
    assert summarise(run(slow, **stopped), load_benchmarks())["verdict"] == "fail"


def test_a_run_that_never_finished_is_invalid_even_if_it_fails() -> None:
    slow = documented_phases(np.random.default_rng(10), init_shift=400)
    s = summarise(run(slow, status="running"), load_benchmarks())
    assert s["verdict"] == "invalid"
    assert "did not finish" in s["reasons"][0]


def test_lost_workers_mark_the_verdict_partial() -> None:
    lost = [{"worker": "w2", "noticed_at": "t", "last_report_at": "t0"}]
    s = summarise(
        run(documented_phases(np.random.default_rng(11)), workers_lost=lost), load_benchmarks()
    )
    assert s["verdict"] == "pass" and s["partial"] is True and s["lost_workers"] == lost


def test_unexplained_interruptions_and_missing_rows_make_a_run_invalid() -> None:
    data = run(documented_phases(np.random.default_rng(12)))
    total = data.run["accounting"]["total"]
    total.update(interrupted=5, interrupted_explained=2, interrupted_unexplained=3, completed=975)
    s = summarise(data, load_benchmarks())
    assert s["verdict"] == "invalid"
    assert any("3 lifecycles were cut off with no stop" in r for r in s["reasons"])
    data = run(documented_phases(np.random.default_rng(12)))
    data.missing = ["w1.csv: holds 10 rows, run.json says 20 (truncated or altered)"]
    assert summarise(data, load_benchmarks())["verdict"] == "invalid"


def test_a_clock_that_went_backwards_makes_the_run_invalid() -> None:
    data = run(documented_phases(np.random.default_rng(13)))
    data.run["accounting"]["total"]["harness_errors"] = {"negative_duration": 2}
    s = summarise(data, load_benchmarks())
    assert s["verdict"] == "invalid"
    assert any("2 phase samples ended before they began" in r for r in s["reasons"])


def test_replies_are_summarised_by_nearest_rank() -> None:
    from pathlib import Path

    import numpy as np

    from harness.analysis.rundata import RunData
    from harness.analysis.verdict import replies

    data = RunData(Path("."), {}, {}, 0.0, 0, 0, "raw samples")
    assert replies(data) == {
        "count": 0,
        "chunks": {"p50": None, "p95": None, "p100": None},
        "chars_per_s": {"p5": None, "p50": None, "p95": None},
    }
    data.reply_chunks = np.array([4.0] * 18 + [1.0, 9.0])
    data.reply_rates = np.array([float(r) for r in range(100, 1900, 100)] + [np.nan, 1900.0])
    summary = replies(data)
    assert summary["count"] == 20
    assert summary["chunks"] == {"p50": 4, "p95": 4, "p100": 9}
    assert summary["chars_per_s"] == {"p5": 100.0, "p50": 1000.0, "p95": 1900.0}  # of 19


def _labelled_run(tmp_path: Path, samples: bool) -> Path:
    """A run whose pricing replies are slow and smalltalk fast, for tenants a and b: as raw
    samples (version 3 columns) or as merged histograms only."""
    import csv
    import json

    from harness.record.histograms import new_histogram
    from harness.record.schema import SAMPLE_FIELDS, labelled

    rng = np.random.default_rng(3)
    rows, hists = [], {}
    for i in range(600):
        step = "pricing_question" if i % 2 else "smalltalk"
        tenant = "a" if i % 3 else "b"
        us = int(rng.uniform(900_000, 1_100_000) if step == "pricing_question" else 200_000)
        rows.append([f"s{i}", "chat_complete", f"{1_790_000_000 + i / 10:.6f}", us, 1, "", 0])
        rows[-1] += ["local", 3, "", step, tenant]
        for name in ("chat_complete", labelled("chat_complete", "step", step)):
            hists.setdefault(name, new_histogram()).record_value(us)
        hists.setdefault(labelled("chat_complete", "tenant", tenant), new_histogram()).record_value(
            us
        )
    body = {"schema_version": 2, "run_id": "l", "status": "complete"}
    (tmp_path / "run.json").write_text(json.dumps(body))
    if samples:
        (tmp_path / "samples").mkdir()
        with (tmp_path / "samples" / "local.csv").open("w", newline="") as f:
            csv.writer(f).writerows([SAMPLE_FIELDS, *rows])
    else:
        phases = {
            name: {"count": h.get_total_count(), "errors": {}, "hdr": h.encode().decode()}
            for name, h in hists.items()
        }
        (tmp_path / "histograms.json").write_text(
            json.dumps({"schema_version": 3, "phases": phases})
        )
    return tmp_path


@pytest.mark.parametrize("samples", [True, False], ids=["raw samples", "merged histograms"])
def test_checks_and_breakdown_by_step_and_tenant(tmp_path: Path, samples: bool) -> None:
    from harness.analysis.rundata import load_run

    table = tmp_path / "bench.toml"
    table.write_text(
        '[phases.chat_complete]\nchecks = ["p95 < 2s"]\n'
        '[phases."chat_complete{step:pricing_question}"]\nchecks = ["p50 < 500ms"]\n'
        '[phases."chat_complete{step:smalltalk}"]\nchecks = ["p50 < 500ms"]\n'
        '[phases."chat_complete{tenant:b}"]\nchecks = ["max < 2s"]\n'
    )
    (tmp_path / "run").mkdir()
    data = load_run(_labelled_run(tmp_path / "run", samples))
    s = summarise(data, load_benchmarks(table))
    status = {c["phase"]: c["status"] for c in s["checks"]}
    assert status == {
        "chat_complete": "pass",
        "chat_complete{step:pricing_question}": "fail",  # only the slow step fails
        "chat_complete{step:smalltalk}": "pass",
        "chat_complete{tenant:b}": "pass",
    }
    assert set(s["phases"]) == {"chat_complete"}  # the labelled series are not phases
    breakdown = s["breakdown"]
    assert breakdown["chat_complete{step:pricing_question}"]["count"] == 300
    assert breakdown["chat_complete{tenant:a}"]["count"] == 400
    assert breakdown["chat_complete{tenant:b}"]["count"] == 200
    assert 900 <= breakdown["chat_complete{step:pricing_question}"]["p50_ms"] <= 1100
    assert breakdown["chat_complete{step:smalltalk}"]["p50_ms"] == pytest.approx(200, rel=0.001)


def test_a_check_on_an_unknown_phase_by_step_is_refused(tmp_path: Path) -> None:
    from harness.errors import ConfigError

    table = tmp_path / "bench.toml"
    table.write_text('[phases."chat_done{step:x}"]\nchecks = ["p50 < 1s"]\n')
    with pytest.raises(ConfigError, match="no such phase"):
        load_benchmarks(table)


def test_checks_by_step_cannot_pass_when_a_process_dropped_step_names(tmp_path: Path) -> None:
    """A process keeps series for at most MAX_LABELS step names: past that, a step's
    figures are partial, and a PASS on a check by step would rest on part of the run."""
    rng = np.random.default_rng(2)
    ready = phase(rng.uniform(400, 500, 2000))
    data = run({"ready": ready})
    data.breakdown = {"chat_complete{step:a}": phase(rng.uniform(100, 200, 2000))}
    table = tmp_path / "b.toml"
    table.write_text('[phases."chat_complete{step:a}"]\nchecks = ["p95 < 1s"]\n')
    bench = load_benchmarks(table)
    assert summarise(data, bench)["verdict"] == "pass"
    data.run["accounting"]["total"]["labels_dropped"] = {"step": 7}
    s = summarise(data, bench)
    assert s["verdict"] == "invalid" and any("without their step" in r for r in s["reasons"])
    data.run["accounting"]["total"]["labels_dropped"] = {"tenant": 7}  # not what is checked
    assert summarise(data, bench)["verdict"] == "pass"
