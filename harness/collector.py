"""Python's cyclic garbage collector, kept from pausing measurements, its pauses recorded.

A full (generation-2) collection walks every live object: holding 5,000 sessions it stopped
a harness process for 70-180 ms every ~10 s, and a reference-platform worker holding 10,000
for 250-605 ms, freeing next to nothing (measured with gc.callbacks). Started, it freezes
what exists (start-up objects are left out of every later collection) and turns automatic
full collections off; young collections (cheap, bounded by allocation) go on. Full ones
happen only when asked: `collect` (the platform, when no session is open) and `stop`.

The harness leaves no reference cycles per lifecycle (the transport breaks the one
websocket-client makes), so nothing piles up during a run; the platform's connections that
end abruptly do leave one each, which its idle collections free.
"""

from __future__ import annotations

import gc
import time

from hdrh.histogram import HdrHistogram

from harness.protocol.clock import micros


class CollectorOffTheClock:
    def __init__(self) -> None:
        self.pauses = HdrHistogram(1, 60_000_000, 3)  # µs, every collection while started
        self.full_collections = 0  # asked for: collect() and stop()
        self.garbage_at_end: int | None = None
        self._started = 0.0
        self._thresholds: tuple[int, int, int] | None = None

    def start(self) -> None:
        if self._thresholds is not None:
            return
        self._thresholds = gc.get_threshold()
        gc.freeze()
        young, middle, _ = self._thresholds
        gc.set_threshold(young, middle, 1 << 30)  # a full collection only when asked
        gc.callbacks.append(self._timed)

    def collect(self) -> int:
        """A full collection now (of everything but the frozen start-up objects); how many
        unreachable objects it found."""
        self.full_collections += 1
        return gc.collect()

    def stop(self) -> None:
        if self._thresholds is None:
            return
        gc.callbacks.remove(self._timed)
        gc.set_threshold(*self._thresholds)
        self._thresholds = None
        gc.unfreeze()
        self.full_collections += 1
        self.garbage_at_end = gc.collect()

    def _timed(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.record_value(max(1, micros(time.perf_counter() - self._started)))
