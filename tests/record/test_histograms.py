"""The harness's one-call recording into an HdrHistogram equals hdrh's own record_value."""

from __future__ import annotations

from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.record.histograms import MAX_US, new_histogram, record


def same(a: HdrHistogram, b: HdrHistogram) -> bool:
    return list(a.counts) == list(b.counts) and (a.total_count, a.min_value, a.max_value) == (
        b.total_count,
        b.min_value,
        b.max_value,
    )


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=1, max_value=MAX_US), min_size=1, max_size=200))
def test_record_equals_hdrhs_record_value(values: list[int]) -> None:
    ours, theirs = new_histogram(), new_histogram()
    for value in values:
        record(ours, value)
        theirs.record_value(value)
    assert same(ours, theirs)
    assert ours.get_value_at_percentile(99) == theirs.get_value_at_percentile(99)


def test_record_is_exact_at_bucket_edges_and_the_extremes() -> None:
    edges = [1, 2, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 10**6, MAX_US - 1, MAX_US]
    ours, theirs = new_histogram(), new_histogram()
    for value in edges:
        record(ours, value)
        theirs.record_value(value)
    assert same(ours, theirs)


@given(st.integers(min_value=1000, max_value=10**9), st.integers(min_value=1, max_value=10**9))
def test_record_works_for_other_histogram_shapes(lowest: int, value: int) -> None:
    """A histogram with a coarser unit (the loop-lag and GC ones are 1 µs too, but the rule
    is hdrh's, not ours)."""
    ours, theirs = HdrHistogram(lowest, 10**10, 2), HdrHistogram(lowest, 10**10, 2)
    record(ours, value)
    theirs.record_value(value)
    assert same(ours, theirs)
