"""The live view: summary.json's figures and verdict, while a run goes, from the merged
histograms the coordinator already holds (no raw samples are read).

The same functions as the report's (verdict.phase_table, evaluate, budgets, summarise) run on
the histograms' values (HistValues ranked as a sorted array is), so the web UI's Benchmarks
tab, `/harness/live`, the console block and summary.json give the same number for the same
data, within the histograms' 3 significant figures. Warm-up is not left out while a run goes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from harness.analysis.benchmarks import Benchmarks
from harness.analysis.rundata import PhaseData, RunData
from harness.analysis.verdict import summarise
from harness.record.histograms import hist_values
from harness.record.results import MergedResults
from harness.record.schema import split_labelled

EMPTY = np.array([], dtype=float)


def run_data(merged: MergedResults, run: dict[str, Any]) -> RunData:
    """The merged histograms as RunData (no start times: nothing over time)."""
    phases: dict[str, PhaseData] = {}
    breakdown: dict[str, PhaseData] = {}
    errors: dict[str, Counter[str]] = {}
    for (name, error), n in merged.errors.items():
        errors.setdefault(name, Counter())[error] += n
    for name in set(merged.hists) | set(errors):
        hist = merged.hists.get(name)
        # HistValues is ranked as a sorted array is (stats.Ranked), without one element per
        # sample: what keeps an update cheap at millions of samples
        values = hist_values(hist) if hist is not None else np.array([], dtype=np.int64)
        series = PhaseData(
            cast(np.ndarray, values),
            EMPTY,
            EMPTY,
            np.array([], dtype=object),
            errors.get(name, Counter()),
        )
        (breakdown if split_labelled(name) else phases)[name] = series
    data = RunData(Path("."), run, phases, 0.0, None, None, "merged histograms (live)")
    data.breakdown = breakdown
    return data


def live_summary(
    merged: MergedResults,
    bench: Benchmarks,
    *,
    health: dict[str, Any],
    elapsed_s: float,
    planned_s: float | None,
    users: int,
    lost_workers: list[str],
) -> dict[str, Any]:
    """summary.json's live subset (phases, breakdown, checks, error_budgets, lifecycles,
    health) and the verdict the run would get if it ended now, with the run's progress."""
    acct = merged.accounting.as_dict()
    # judged as if it ended now: what is in flight would end one way or another
    run = {
        "status": "complete",
        "accounting": {"total": {**acct, "in_flight": 0}},
        "health": health,
    }
    s = summarise(run_data(merged, run), replace(bench, warmup_s=0.0))
    started = acct["started"]
    return {
        "elapsed_s": round(elapsed_s, 1),
        "planned_s": planned_s,
        "users": users,
        "lifecycles_per_s": round(started / elapsed_s, 2) if elapsed_s > 0 else None,
        "verdict_if_ended_now": s["verdict"],
        "reasons": s["reasons"],
        "phases": s["phases"],
        "breakdown": s["breakdown"],
        "checks": s["checks"],
        "error_budgets": s["error_budgets"],
        "lifecycles": {
            "started": started,
            "ready": acct["ready"],
            "completed": acct["completed"],
            "failed": acct["failed"],
            "interrupted": acct["interrupted"],
            "lost": acct["lost"],
            "in_flight": acct["in_flight"],
            "reconnects": acct["reconnects"],
        },
        "protocol_violations": acct["protocol_violations"],
        "harness_errors": acct["harness_errors"],
        "health": {
            "valid": bool(health.get("valid")),
            "reasons": health.get("reasons", []),
            "loop_lag_p99_ms": health.get("loop_lag_p99_ms"),
            "loop_lag_tolerance_ms": health.get("loop_lag_tolerance_ms"),
            "cpu_max_pct": health.get("cpu_max_pct"),
            "processes": {
                worker: {
                    "loop_lag_p99_ms": h.get("loop_lag_p99_ms"),
                    "cpu_max_pct": h.get("cpu_max_pct"),
                }
                for worker, h in (health.get("processes") or {}).items()
            },
            "lost_workers": lost_workers,
        },
    }
