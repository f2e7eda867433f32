import logging
import random

import numpy as np
import pytest

from harness.protocol.session import PhaseSample
from harness.record.results import MergedResults, ProcessResults


def sample(phase: str, us: int, ok: bool = True, error: str | None = None) -> PhaseSample:
    return PhaseSample("s", phase, 1.0, us, ok, error)


def test_deltas_merge_to_the_same_totals_as_one_process() -> None:
    rng = random.Random(3)
    values = [int(rng.lognormvariate(12, 0.5)) for _ in range(20_000)]
    workers = [ProcessResults(f"w{i}") for i in range(3)]
    merged = MergedResults()
    for i, v in enumerate(values):
        w = workers[i % 3]
        w.record(sample("ready", v))
        if i % 997 == 0:
            w.record(sample("ready", 10_000_000, ok=False, error="ready_timeout"))
        if i % 5000 == 0:  # ship part-way, as report_to_master does every 3 s
            merged.merge(w.worker_id, w.take_delta())
    for w in workers:
        merged.merge(w.worker_id, w.take_delta())
        assert w.take_delta()["hist"] == {}  # nothing twice
    row = merged.phase_table()["ready"]
    assert row["count"] == len(values)
    assert row["errors_by_class"] == {"ready_timeout": 21}
    for q in (50, 95, 99):
        exact = np.percentile(values, q, method="inverted_cdf") / 1000
        assert abs(row[f"p{q}_ms"] - exact) <= exact * 0.001 + 0.001  # 3 significant figures


def test_accounting_deltas_add_up_per_worker() -> None:
    a, b = ProcessResults("a"), ProcessResults("b")
    merged = MergedResults()
    a.accounting.started += 3
    a.accounting.completed += 2
    a.accounting.failed["dropped"] += 1
    merged.merge("a", a.take_delta())
    a.accounting.started += 1
    a.accounting.interrupted += 1
    b.accounting.started += 2
    b.accounting.completed += 2
    merged.merge("a", a.take_delta())
    merged.merge("b", b.take_delta())
    total = merged.accounting.as_dict()
    assert (total["started"], total["completed"], total["failed"], total["interrupted"]) == (
        6,
        4,
        {"dropped": 1},
        1,
    )
    assert total["in_flight"] == 0
    assert merged.workers["a"].accounting.as_dict()["started"] == 4


def test_rows_are_flushed_a_slice_at_a_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.record.samples import SampleWriter, read_chunks

    p = ProcessResults("w")
    for i in range(600):
        p.record(PhaseSample(f"s{i}", "ready", 1.0, 100, True))
    assert p.flush_rows(250) == 600  # no writer yet: kept in memory
    p.writer = SampleWriter(tmp_path, "w")
    assert [p.flush_rows(250), p.flush_rows(250), p.flush_rows(250)] == [350, 100, 0]
    p.writer.close()
    assert sum(len(c) for c in read_chunks(p.writer.path)) == 600
    assert p.writer.rows == 600


def test_a_negative_duration_is_counted_as_a_harness_error_not_hidden(caplog) -> None:  # type: ignore[no-untyped-def]
    """A clock that stepped backwards: the histogram can only hold 1 us; the run must say so."""
    p = ProcessResults("w")
    with caplog.at_level("ERROR", logger="harness"):
        for _ in range(3):
            p.record(PhaseSample("s", "chat_first", 1.0, -2_000, True))
    p.record(PhaseSample("s", "chat_first", 1.0, 5, True))
    assert p.accounting.harness_errors == {"negative_duration": 3}
    assert len([r for r in caplog.records if "clock went backwards" in r.getMessage()]) == 1
    merged = MergedResults()
    merged.merge("w", p.take_delta())
    assert merged.accounting.as_dict()["harness_errors"] == {"negative_duration": 3}


def test_a_process_keeps_series_for_at_most_max_labels_names(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A step named after an id would make a histogram per lifecycle: after MAX_LABELS
    names the rest count in their phase only, said once."""
    from harness.record.results import MAX_LABELS

    results = ProcessResults("local")
    with caplog.at_level(logging.WARNING, logger="harness"):
        for i in range(MAX_LABELS + 50):
            results.record(PhaseSample(f"s{i}", "chat_complete", 0.0, 1000, True, step=f"id{i}"))
    hists = results.take_delta()["hist"]
    assert len(hists) == 1 + MAX_LABELS and hists["chat_complete"]
    assert sum("step names" in r.getMessage() for r in caplog.records) == 1
    kept = [s.step for s in results._rows]
    assert kept[:MAX_LABELS] == [f"id{i}" for i in range(MAX_LABELS)]
    assert set(kept[MAX_LABELS:]) == {None}  # the samples file agrees with the histograms
    assert results.accounting.as_dict()["labels_dropped"] == {"step": 50}  # and run.json says
