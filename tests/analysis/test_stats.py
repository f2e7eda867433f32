import math
from fractions import Fraction

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from harness.analysis.stats import interval, percentile, samples_needed, statistic


@pytest.mark.parametrize("n", [1, 7, 100, 1001, 20_000])
@pytest.mark.parametrize("p", [50, 90, 95, 99, 99.9])
def test_percentile_is_the_exact_nearest_rank(n: int, p: float) -> None:
    """rank = ceil(p/100 * n) in exact arithmetic (numpy's inverted_cdf computes it in floating
    point: 99.9 % of 20,000 comes out as rank 19,981, one too high)."""
    values = np.sort(np.random.default_rng(n).lognormal(12, 0.6, n).astype(np.int64))
    exact_rank = max(1, math.ceil(Fraction(str(p)) / 100 * n))
    assert percentile(values, p) == values[exact_rank - 1]


@pytest.mark.parametrize("n", [1, 7, 100, 1001, 20_000])
@pytest.mark.parametrize("p", [50, 90, 95, 99, 99.9])
def test_histogram_percentiles_follow_the_same_rule(n: int, p: float) -> None:
    """run.json's histogram figures and summary.json's raw-sample figures: one rule, so they
    differ only by the histogram's 3 significant figures."""
    from harness.record.histograms import hist_percentile, new_histogram

    values = np.sort(np.random.default_rng(n).lognormal(12, 0.6, n).astype(np.int64))
    hist: HdrHistogram = new_histogram()
    for v in values:
        hist.record_value(int(v))
    exact = percentile(values, p)
    from_hist = hist_percentile(hist, p)
    assert from_hist is not None
    assert exact <= from_hist <= exact * 1.001 + 1


def test_interval_covers_the_true_quantile_at_its_confidence() -> None:
    rng = np.random.default_rng(1)
    true_p95 = float(np.exp(1.6448536269514722))  # the lognormal(0, 1) 95th percentile
    covered = 0
    for _ in range(400):
        sample = np.sort(rng.lognormal(0, 1, 500))
        low, high = interval(sample, 95, 0.95)
        covered += low <= true_p95 <= high
    assert 0.92 <= covered / 400 <= 0.99


def test_samples_needed_leaves_ten_above_the_percentile() -> None:
    assert [samples_needed(p) for p in (50, 95, 99, 99.9, 100)] == [20, 200, 1000, 10_000, 1]


def test_statistic_in_milliseconds() -> None:
    us = np.sort(np.array([1000, 2000, 3000, 4000, 100_000], dtype=np.int64))
    assert statistic(us, "max", 0.95).value_ms == 100.0
    assert statistic(us, "p50", 0.95).value_ms == 3.0
    mean = statistic(us, "mean", 0.95)
    assert (
        mean.value_ms == 22.0 and mean.low_ms is not None and mean.low_ms < 22 < (mean.high_ms or 0)
    )
