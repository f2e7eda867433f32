"""Per-phase latency histograms (HdrHistogram, integer µs, 3 significant figures) and the
one percentile rule every figure of the harness uses: nearest rank."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from hdrh.histogram import HdrHistogram

MAX_US = 3_600_000_000  # one hour: anything longer is clipped to it


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, MAX_US, 3)


def record(hist: HdrHistogram, value: int) -> None:
    """hist.record_value(value), for an integer 1 <= value <= the histogram's highest, in
    one Python call: hdrh's takes six (its bucket index goes through bin() and a string's
    length), and every phase sample of a run is recorded."""
    unit = hist.unit_magnitude
    half_magnitude = hist.sub_bucket_half_count_magnitude
    bucket = (value | hist.sub_bucket_mask).bit_length() - unit - half_magnitude - 1
    index = (
        ((bucket + 1) << half_magnitude) + (value >> (bucket + unit)) - hist.sub_bucket_half_count
    )
    hist.counts[index] += 1
    hist.total_count += 1
    if value < hist.min_value:
        hist.min_value = value
    if value > hist.max_value:
        hist.max_value = value


def rank(p: float, n: int) -> int:
    """1-based nearest rank of the p-th percentile among n values: ceil(p/100 * n)."""
    return min(n, max(1, math.ceil(round(p / 100 * n, 9))))


@lru_cache(maxsize=4)
def _bucket_tops(lowest: int, highest: int, figures: int) -> np.ndarray:
    """The top of every bucket of a histogram of this layout, by counts index (computed once:
    the report, run.json and the live view all rank from it)."""
    h = HdrHistogram(lowest, highest, figures)
    return np.array(
        [h.get_highest_equivalent_value(h.get_value_from_index(i)) for i in range(h.counts_len)],
        dtype=np.int64,
    )


@dataclass(frozen=True)
class HistValues:
    """A histogram's values in order, as its distinct bucket tops and their cumulative
    counts: what a sorted array of its samples would be, without one element per sample.
    `statistic` (harness.analysis.stats) ranks it as it ranks a sorted array."""

    tops: np.ndarray  # ascending bucket tops (µs) holding at least one sample
    cumulative: np.ndarray  # samples at or below each
    counts: np.ndarray  # samples in each
    n: int

    def __len__(self) -> int:
        return self.n

    def at_rank(self, r: int) -> int:
        """The r-th smallest value (1-based), as the top of its bucket."""
        return int(self.tops[self.cumulative.searchsorted(r)])

    def mean(self) -> float:
        return float(np.dot(self.tops, self.counts) / len(self))

    def std(self) -> float:
        mean = self.mean()
        return float(np.sqrt(np.dot((self.tops - mean) ** 2, self.counts) / len(self)))


def hist_values(hist: HdrHistogram) -> HistValues:
    """Its values, remembered on the histogram until it records more (the live view asks
    every second about histograms that mostly have not changed)."""
    n = hist.get_total_count()
    known: tuple[int, HistValues] | None = getattr(hist, "_harness_values", None)
    if known is not None and known[0] == n:
        return known[1]
    tops = _bucket_tops(
        hist.lowest_trackable_value, hist.highest_trackable_value, hist.significant_figures
    )
    counts = np.ctypeslib.as_array(hist.counts)
    filled = np.flatnonzero(counts)
    mine = counts[filled].astype(np.int64)
    values = HistValues(tops[filled], np.cumsum(mine), mine, n)
    hist._harness_values = (n, values)
    return values


def hist_percentile(hist: HdrHistogram, p: float) -> int | None:
    """The p-th percentile by nearest rank, as the top of its bucket (hdrh's own
    get_value_at_percentile ranks by round(p*N), a different rule); None when empty."""
    n = hist.get_total_count()
    if n == 0:
        return None
    return hist_values(hist).at_rank(rank(p, n))


def hist_ms(hist: HdrHistogram, p: float, digits: int = 3) -> float | None:
    value = hist_percentile(hist, p)
    return None if value is None else round(value / 1000, digits)


def hist_max_ms(hist: HdrHistogram, digits: int = 3) -> float | None:
    return round(hist.get_max_value() / 1000, digits) if hist.get_total_count() else None
