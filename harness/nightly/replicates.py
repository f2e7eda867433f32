"""From run directories to replicate values of p50/p95/p99 per phase: per trial, or per time
block within trials (for sides with fewer than three trials)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.rundata import load_run
from harness.analysis.stats import percentile
from harness.errors import HarnessError
from harness.nightly.compare import STATS, Replicates
from harness.record.runfile import read_run_json

BLOCKS_PER_TRIAL = 5
MIN_TRIALS = 3


def target_key(run: dict[str, Any]) -> str:
    """What was measured: the target URL, or the embedded platform and its settings."""
    embedded = run.get("embedded_platform")
    if embedded:
        return "embedded reference platform " + " ".join(embedded.get("args") or [])
    return str(run.get("target", ""))


@dataclass
class Side:
    """One side of a comparison: several runs of one scenario against one target."""

    scenario: str | None
    target: str
    runs: list[dict[str, Any]] = field(default_factory=list)  # each run's metadata
    trials: Replicates = field(default_factory=dict)
    blocks: Replicates = field(default_factory=dict)

    def replicates(self, by: str) -> Replicates:
        return self.trials if by == "trials" else self.blocks


def _stats(sorted_us: np.ndarray) -> dict[str, float]:
    return {stat: percentile(sorted_us, float(stat[1:])) / 1000 for stat in STATS}


def _add(table: Replicates, phase: str, values: dict[str, float]) -> None:
    for stat, value in values.items():
        table.setdefault(phase, {}).setdefault(stat, []).append(value)


def side_from_runs(run_dirs: list[Path], warmup_s: float = 0.0, require_valid: bool = True) -> Side:
    """Replicates of these runs. A run whose harness health was invalid is refused (its figures
    include the harness's own queueing) unless `require_valid` is off, as the nightly, which
    reports invalid trials itself, turns it."""
    if not run_dirs:
        raise HarnessError("no runs given")
    side: Side | None = None
    for run_dir in run_dirs:
        run = read_run_json(run_dir)
        health = run.get("health") or {}
        if require_valid and health.get("valid") is not True:
            why = "; ".join(health.get("reasons", [])) or "no harness health recorded"
            raise HarnessError(f"{run_dir}: not a valid run to compare ({why})")
        data = load_run(run_dir, warmup_s)
        scenario, target = run.get("scenario"), target_key(run)
        if side is None:
            side = Side(scenario, target)
        elif (scenario, target) != (side.scenario, side.target):
            raise HarnessError(
                f"{run_dir}: runs of one side must share scenario and target "
                f"({scenario!r} against {target!r} vs {side.scenario!r} against {side.target!r})"
            )
        side.runs.append(
            {
                k: run.get(k)
                for k in ("run_id", "started", "ended", "git_commit", "versions", "host")
            }
        )
        for phase, d in data.phases.items():
            if d.count < 20:
                continue
            _add(side.trials, phase, _stats(d.ok_us))
            if len(d.ok_start) != d.count:
                continue  # from merged histograms: no start times, so no time blocks
            edges = np.linspace(d.ok_start.min(), d.ok_start.max(), BLOCKS_PER_TRIAL + 1)
            block = np.clip(
                np.searchsorted(edges, d.ok_start, side="right") - 1, 0, BLOCKS_PER_TRIAL - 1
            )
            for b in range(BLOCKS_PER_TRIAL):
                values = d.ok_us[block == b]  # still sorted: ok_us is sorted, masks keep order
                if len(values) >= 20:
                    _add(side.blocks, phase, _stats(values))
    assert side is not None
    return side


def replicate_kind(a: Side, b: Side) -> str:
    return "trials" if min(len(a.runs), len(b.runs)) >= MIN_TRIALS else "blocks"
