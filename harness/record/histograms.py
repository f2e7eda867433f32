"""Per-phase latency histograms (HdrHistogram, integer µs, 3 significant figures) and the
one percentile rule every figure of the harness uses: nearest rank."""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram

MAX_US = 3_600_000_000  # one hour: anything longer is clipped to it


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, MAX_US, 3)


def rank(p: float, n: int) -> int:
    """1-based nearest rank of the p-th percentile among n values: ceil(p/100 * n)."""
    return min(n, max(1, math.ceil(round(p / 100 * n, 9))))


def hist_percentile(hist: HdrHistogram, p: float) -> int | None:
    """The p-th percentile by nearest rank, as the top of its bucket (hdrh's own
    get_value_at_percentile ranks by round(p*N), a different rule); None when empty."""
    n = hist.get_total_count()
    if n == 0:
        return None
    wanted = rank(p, n)
    seen = 0
    for bucket in hist.get_recorded_iterator():
        seen += bucket.count_at_value_iterated_to
        if seen >= wanted:
            return int(hist.get_highest_equivalent_value(bucket.value_iterated_to))
    return int(hist.get_max_value())


def hist_ms(hist: HdrHistogram, p: float, digits: int = 3) -> float | None:
    value = hist_percentile(hist, p)
    return None if value is None else round(value / 1000, digits)


def hist_max_ms(hist: HdrHistogram, digits: int = 3) -> float | None:
    return round(hist.get_max_value() / 1000, digits) if hist.get_total_count() else None
