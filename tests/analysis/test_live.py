"""The live view's figures are the report's: the same functions on the merged histograms as
on the raw samples, equal within the histograms' 3 significant figures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.benchmarks import load_benchmarks
from harness.analysis.live import live_summary
from harness.analysis.rundata import PhaseData, RunData
from harness.analysis.stats import statistic
from harness.analysis.verdict import summarise
from harness.protocol.session import PhaseSample
from harness.record.histograms import hist_values, new_histogram, rank
from harness.record.results import MergedResults, ProcessResults

HEALTH = {"valid": True, "reasons": [], "loop_lag_tolerance_ms": 10.0, "processes": {}}


def test_histogram_values_rank_as_the_sorted_samples_do() -> None:
    values = np.random.default_rng(5).lognormal(12, 0.6, 20_000).astype(np.int64)
    hist = new_histogram()
    for v in values:
        hist.record_value(int(v))
    ranked, exact = hist_values(hist), np.sort(values)
    assert len(ranked) == len(exact)
    for r in (1, 2, 5_000, 19_999, 20_000):
        assert exact[r - 1] <= ranked.at_rank(r) <= exact[r - 1] * 1.001 + 1
    for stat in ("p50", "p95", "p99.9", "max", "mean"):
        a, b = statistic(exact, stat, 0.95), statistic(ranked, stat, 0.95)
        assert b.value_ms == pytest.approx(a.value_ms, rel=2e-3), stat
        if a.low_ms is not None:
            assert b.low_ms == pytest.approx(a.low_ms, rel=2e-3)
            assert b.high_ms == pytest.approx(a.high_ms, rel=2e-3)
    hist.record_value(10**9)  # recorded more: not the remembered values any more
    assert hist_values(hist).at_rank(rank(100, len(values) + 1)) >= 10**9


def test_a_snapshot_gives_summary_jsons_numbers_for_the_same_samples(tmp_path: Path) -> None:
    """Two workers' samples, merged as the master merges them, against summarise() on the
    same samples as raw arrays: counts equal, every figure within 3 significant figures,
    the same statuses and verdict."""
    rng = np.random.default_rng(8)
    merged = MergedResults()
    raw: dict[str, list[int]] = {"ready": [], "platform_init": []}
    for worker in ("w1", "w2"):
        results = ProcessResults(worker)
        for _ in range(800):
            init = int(rng.normal(400_000, 45_000))
            for phase, us in (("platform_init", init), ("ready", init + 100_000)):
                results.record(PhaseSample("s", phase, 0.0, us, True))
                raw[phase].append(us)
        results.record(PhaseSample("s", "ready", 0.0, 10_000_000, False, "ready_timeout"))
        results.accounting.started, results.accounting.completed = 801, 800
        results.accounting.failed["ready_timeout"] = 1
        merged.merge(worker, results.take_delta())
    table = tmp_path / "b.toml"
    table.write_text(
        '[phases.ready]\nchecks = ["p95 < 600ms", "max < 10s"]\n'
        '[phases.platform_init]\nchecks = ["p50 < 400ms"]\n'
        '[errors]\nready_timeout = "rate < 1%"\n'
    )
    bench = load_benchmarks(table)
    live = live_summary(
        merged, bench, health=HEALTH, elapsed_s=10, planned_s=20, users=4, lost_workers=[]
    )
    empty = np.array([])
    phases = {
        p: PhaseData(np.sort(np.array(v)), empty, empty, empty, Counter()) for p, v in raw.items()
    }
    phases["ready"].errors["ready_timeout"] = 2
    acct = merged.accounting.as_dict()
    run = {"status": "complete", "accounting": {"total": acct}, "health": HEALTH}
    exact = summarise(RunData(Path("."), run, phases, 0.0, None, None, "raw"), bench)
    assert live["verdict_if_ended_now"] == exact["verdict"]
    for phase, row in exact["phases"].items():
        mine = live["phases"][phase]
        assert (mine["count"], mine["errors"]) == (row["count"], row["errors"])
        for key in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99_9_ms", "max_ms"):
            assert row[key] <= mine[key] <= row[key] * 1.001 + 0.001, (phase, key)
    for mine, row in zip(live["checks"], exact["checks"], strict=True):
        assert (mine["check"], mine["status"], mine["samples"]) == (
            row["check"],
            row["status"],
            row["samples"],
        )
    assert live["error_budgets"] == exact["error_budgets"]
    assert live["lifecycles"]["started"] == 1602 and live["lifecycles"]["failed"] == {
        "ready_timeout": 2
    }


def test_in_flight_lifecycles_do_not_make_a_live_verdict_invalid() -> None:
    merged = MergedResults()
    results = ProcessResults("local")
    for _ in range(300):
        results.record(PhaseSample("s", "ready", 0.0, 500_000, True))
    results.accounting.started, results.accounting.completed = 310, 300  # 10 in flight
    merged.merge("local", results.take_delta())
    live = live_summary(
        merged, load_benchmarks(), health=HEALTH, elapsed_s=5, planned_s=None, users=10,
        lost_workers=[],
    )  # fmt: skip
    assert live["lifecycles"]["in_flight"] == 10
    assert not any("unaccounted" in r for r in live["reasons"]), live["reasons"]
