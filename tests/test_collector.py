"""The garbage collector kept off the clock."""

from __future__ import annotations

import gc

from harness.collector import CollectorOffTheClock


def test_full_collections_wait_for_the_end_of_the_run_and_every_pause_is_recorded() -> None:
    saved = gc.get_threshold()
    collector = CollectorOffTheClock()
    collector.start()
    try:
        assert gc.get_threshold()[:2] == saved[:2]  # young collections go on
        assert gc.get_threshold()[2] >= 1 << 30  # no automatic full collection
        assert gc.get_freeze_count() > 0  # what existed at the start is left alone
        cycle: list[object] = []
        cycle.append(cycle)
        gc.collect(1)  # alive: promoted to the oldest generation
        del cycle  # now garbage that only a full collection finds
        gc.collect(1)
    finally:
        collector.stop()
    assert gc.get_threshold() == saved and gc.get_freeze_count() == 0
    assert collector.garbage_at_end is not None and collector.garbage_at_end >= 1
    assert collector.pauses.total_count >= 2 and collector.pauses.get_max_value() > 0


def test_collect_frees_what_piled_up_while_started() -> None:
    collector = CollectorOffTheClock()
    collector.start()
    try:
        cycle: list[object] = []
        cycle.append(cycle)
        gc.collect(1)  # into the oldest generation, which nothing collects automatically
        del cycle
        assert collector.collect() >= 1
        assert collector.full_collections == 1
        assert gc.get_threshold()[2] >= 1 << 30  # still started
    finally:
        collector.stop()
    assert collector.full_collections == 2
