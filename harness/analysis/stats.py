"""Pure statistics on sorted durations. One percentile method throughout: nearest rank
(`harness.record.histograms.rank`, which the run record's histogram figures use too).

The p-th percentile of n sorted values is the value at rank ceil(p/100 * n) (1-based), i.e.
numpy's `method="inverted_cdf"`: always an observed value, never an interpolation.
Its confidence interval is distribution-free: the ranks between which the p-quantile lies
with the given confidence, from the binomial distribution of how many samples fall below
it (normal approximation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from harness.record.histograms import HistValues, rank

MIN_ABOVE = 10  # a percentile needs at least this many samples above it to mean anything


Ranked = np.ndarray | HistValues
"""Durations in order: a sorted array of samples, or a histogram's values (HistValues); every
statistic ranks both the same way."""


def _at(values: Ranked, r: int) -> float:
    """The r-th smallest (1-based)."""
    return float(values.at_rank(r) if isinstance(values, HistValues) else values[r - 1])


def percentile(sorted_values: Ranked, p: float) -> float:
    return _at(sorted_values, rank(p, len(sorted_values)))


def samples_needed(p: float) -> int:
    """How many samples a p-th percentile needs: MIN_ABOVE of them above it."""
    return 1 if p >= 100 else math.ceil(round(MIN_ABOVE / (1 - p / 100), 6))


@lru_cache(maxsize=8)
def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def interval(sorted_values: Ranked, p: float, confidence: float) -> tuple[float, float]:
    """A `confidence` interval for the p-th percentile (values at order-statistic ranks)."""
    n = len(sorted_values)
    q = p / 100
    z = _z(confidence)
    spread = z * math.sqrt(n * q * (1 - q))
    low = max(1, math.floor(n * q - spread))
    high = min(n, math.ceil(n * q + spread) + 1)
    return _at(sorted_values, low), _at(sorted_values, high)


@dataclass(frozen=True)
class Stat:
    value_ms: float
    low_ms: float | None = None  # confidence interval, when the stat has one
    high_ms: float | None = None


def statistic(sorted_us: Ranked, stat: str, confidence: float, bounds: bool = True) -> Stat:
    """p50 ... p99.9, max or mean of durations in µs, returned in ms; with its confidence
    interval unless `bounds` is False (a table shows the value alone)."""
    if stat == "max":
        return Stat(_at(sorted_us, len(sorted_us)) / 1000)
    if stat == "mean":
        mean = float(sorted_us.mean())
        if not bounds:
            return Stat(mean / 1000)
        half = _z(confidence) * float(sorted_us.std()) / math.sqrt(len(sorted_us))
        return Stat(mean / 1000, (mean - half) / 1000, (mean + half) / 1000)
    p = float(stat[1:])
    if not bounds:
        return Stat(percentile(sorted_us, p) / 1000)
    low, high = interval(sorted_us, p, confidence)
    return Stat(percentile(sorted_us, p) / 1000, low / 1000, high / 1000)


def stat_percent(stat: str) -> float:
    return {"max": 100.0, "mean": 50.0}.get(stat, float(stat[1:]) if stat.startswith("p") else 50.0)
