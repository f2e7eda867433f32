import numpy as np
import pytest

from harness.analysis.stats import interval, percentile, samples_needed, statistic


@pytest.mark.parametrize("n", [1, 7, 100, 1001, 20_000])
@pytest.mark.parametrize("p", [50, 90, 95, 99, 99.9])
def test_percentile_is_numpys_inverted_cdf(n: int, p: float) -> None:
    values = np.sort(np.random.default_rng(n).lognormal(12, 0.6, n).astype(np.int64))
    assert percentile(values, p) == np.percentile(values, p, method="inverted_cdf")


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
