"""Clocks: monotonic seconds for durations, mapped to epoch seconds for sample start times."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds; only differences mean anything."""
        ...

    def to_epoch(self, t: float) -> float:
        """Epoch seconds of a `now()` reading."""
        ...


class MonotonicClock:
    """`perf_counter` anchored once to the wall clock, so epoch times never jump backwards.

    On Linux `perf_counter` is CLOCK_MONOTONIC, shared by every process on the machine, so
    the reference platform's ground truth and the harness's samples can be compared.
    """

    def __init__(self) -> None:
        self._mono0 = time.perf_counter()
        self._epoch0 = time.time()

    def now(self) -> float:
        return time.perf_counter()

    def to_epoch(self, t: float) -> float:
        return self._epoch0 + (t - self._mono0)


class ManualClock:
    """A clock that moves only when told to: for tests and simulations."""

    def __init__(self, start: float = 1000.0, epoch_offset: float = 1_700_000_000.0) -> None:
        self.t = start
        self._offset = epoch_offset

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t

    def to_epoch(self, t: float) -> float:
        return self._offset + t


def micros(seconds: float) -> int:
    """Whole microseconds of a duration in seconds (the one unit of every stored phase)."""
    return round(seconds * 1_000_000)
