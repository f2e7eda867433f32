"""Comparing two sets of runs, phase by phase and statistic by statistic. Pure functions.

Replicates are per-trial values of a statistic (or, when a side has fewer than three trials,
per time block within its trials): never individual requests, which are not independent.
The ratio current / baseline is the ratio of geometric means of the replicates, with a
Welch t interval on their logarithms. A change is called only when it is both

  - larger than `min_change` (10 % by default), and
  - significant at a family-wise level `family_alpha` (1 %) across every comparison made
    together (Bonferroni), one-sided in the direction of the change,

so a night with no real change is flagged at most `family_alpha` of the time, all phases and
statistics together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as st

STATS = ("p50", "p95", "p99")
Replicates = dict[str, dict[str, list[float]]]  # phase -> stat -> values (ms)


@dataclass(frozen=True)
class Change:
    phase: str
    stat: str
    baseline_ms: float | None
    current_ms: float | None
    ratio: float | None
    low: float | None  # 95 % interval of the ratio
    high: float | None
    p_value: float | None  # one-sided, in the direction of the change
    verdict: str  # "regression", "improvement", "no change", "insufficient"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def geomean(values: Sequence[float] | np.ndarray) -> float:
    return float(np.exp(np.log(np.asarray(values, dtype=float)).mean()))


def compare(
    baseline: Replicates,
    current: Replicates,
    min_change: float = 0.10,
    family_alpha: float = 0.01,
) -> list[Change]:
    pairs = [
        (phase, stat)
        for phase in baseline
        if phase in current
        for stat in STATS
        if stat in baseline[phase] and stat in current[phase]
    ]
    alpha = family_alpha / max(len(pairs), 1)
    changes = []
    for phase, stat in pairs:
        b = np.array([v for v in baseline[phase][stat] if v > 0], dtype=float)
        c = np.array([v for v in current[phase][stat] if v > 0], dtype=float)
        if len(b) < 2 or len(c) < 2:
            changes.append(Change(phase, stat, None, None, None, None, None, None, "insufficient"))
            continue
        changes.append(_one(phase, stat, b, c, min_change, alpha))
    return changes


def _one(
    phase: str, stat: str, b: np.ndarray, c: np.ndarray, min_change: float, alpha: float
) -> Change:
    lb, lc = np.log(b), np.log(c)
    diff = float(lc.mean() - lb.mean())
    ratio = math.exp(diff)
    if lb.var() == 0 and lc.var() == 0:  # identical replicates: no spread to test against
        p, low, high = (0.0 if diff else 1.0), ratio, ratio
    else:
        test = st.ttest_ind(lc, lb, equal_var=False)  # Welch, on the logarithms
        p = float(test.pvalue) / 2  # one-sided, in the observed direction
        interval = test.confidence_interval(0.95)
        low, high = math.exp(interval.low), math.exp(interval.high)
    verdict = "no change"
    if p < alpha and ratio > 1 + min_change:
        verdict = "regression"
    elif p < alpha and ratio < 1 / (1 + min_change):
        verdict = "improvement"
    return Change(
        phase,
        stat,
        round(geomean(b), 3),
        round(geomean(c), 3),
        round(ratio, 4),
        round(low, 4),
        round(high, 4),
        p,
        verdict,
    )


def overall(changes: list[Change]) -> str:
    return "regression" if any(c.verdict == "regression" for c in changes) else "no regression"
