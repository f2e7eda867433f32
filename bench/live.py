"""Live view cost: one snapshot of the master (the Benchmarks tab, /harness/live, the console
block) at 20 phases x 8 workers.

    python -m bench.live [--workers 8] [--samples 200000] [--updates 30]

Each of 8 workers ships 20 series (the 9 phases and 11 by step or tenant), `samples` samples
each, log-normal around 100 ms, into one MergedResults, as the master holds them; a table
checks p95 of each series. One update = the snapshot (every check, budget and percentile
from the merged histograms) + the tab's rows + the JSON, timed `updates` times (median,
max). The target is under 5 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.analysis.benchmarks import load_benchmarks
from harness.analysis.live import live_summary
from harness.protocol.session import Phase, PhaseSample
from harness.record.results import MergedResults, ProcessResults
from harness.record.schema import labelled
from harness.report.summary_text import live_rows

STEPS = [f"step{i}" for i in range(7)]
TENANTS = ["a", "b", "c", "d"]


def series_names() -> list[str]:
    phases = [p.value for p in Phase]
    extra = [labelled("chat_complete", "step", s) for s in STEPS]
    extra += [labelled("ready", "tenant", t) for t in TENANTS]
    return phases + extra


def build(workers: int, samples: int) -> MergedResults:
    merged = MergedResults()
    rng = np.random.default_rng(1)
    for w in range(workers):
        results = ProcessResults(f"w{w}")
        values = rng.lognormal(np.log(100_000), 0.4, samples).astype(np.int64)
        for phase in Phase:
            for v in values:
                results.record(PhaseSample("s", phase.value, 0.0, int(v), True))
        for i, v in enumerate(values):
            results.record(
                PhaseSample(
                    "s",
                    "chat_complete",
                    0.0,
                    int(v),
                    True,
                    step=STEPS[i % len(STEPS)],
                )
            )
            results.record(PhaseSample("s", "ready", 0.0, int(v), True, tenant=TENANTS[i % 4]))
        results.accounting.started = results.accounting.completed = samples
        delta = results.take_delta()
        delta["health"] = {"loop_lag_p99_ms": 1.0, "cpu_max_pct": 30.0}
        merged.merge(f"w{w}", delta)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--samples", type=int, default=20_000, help="per series and worker")
    parser.add_argument("--updates", type=int, default=30)
    args = parser.parse_args()
    names = series_names()
    merged = build(args.workers, args.samples)
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "bench.toml"
        table.write_text(
            "".join(f'[phases."{name}"]\nchecks = ["p95 < 500ms"]\n' for name in names)
        )
        bench = load_benchmarks(table)
    health = {"valid": True, "reasons": [], "loop_lag_tolerance_ms": 10.0, "processes": {}}

    def update() -> tuple[float, dict[str, object]]:
        start = time.perf_counter()
        live = live_summary(
            merged, bench, health=health, elapsed_s=60, planned_s=600, users=1000, lost_workers=[]
        )
        live_rows(live)
        json.dumps(live, allow_nan=False)
        return (time.perf_counter() - start) * 1000, live

    update()  # the process's first: the histogram layout's bucket tops are computed once
    same, changed = [], []
    for _ in range(args.updates):
        same.append(update()[0])
        for hist in merged.hists.values():  # a delta from every worker since: all changed
            hist.record_value(100_000)
        elapsed, live = update()
        changed.append(elapsed)
    series = len(live["phases"]) + len(live["breakdown"])  # type: ignore[arg-type]
    print(
        f"live view: {series} series x {args.workers} workers ({args.samples} samples each per "
        f"worker), {len(bench.checks)} checks; one update (snapshot, tab rows, JSON), median "
        f"(max) of {args.updates}: {statistics.median(changed):.2f} ms ({max(changed):.2f}) "
        f"after every series changed, {statistics.median(same):.2f} ms ({max(same):.2f}) "
        "when none did (target < 5 ms)"
    )


if __name__ == "__main__":
    main()
