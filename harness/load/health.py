"""The harness's own health: event-loop lag, CPU, memory, garbage-collector pauses, and the
arrival scheduler's lag.

A busy gevent loop delays every greenlet's resumption, and so every timestamp taken on it.
The monitor greenlet asks to sleep `interval_s` and records how much longer it took: that
oversleep is the delay any user greenlet could have suffered at the same moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import psutil

from harness.collector import CollectorOffTheClock
from harness.protocol.clock import micros
from harness.record.histograms import hist_max_ms, hist_ms, new_histogram


class HealthMonitor:
    def __init__(self, interval_s: float = 0.05, users: Callable[[], int] | None = None) -> None:
        self.interval_s = interval_s
        self.users = users  # how many users this process runs now
        self.loop_lag = new_histogram()
        self.schedule_lag = new_histogram()  # arrival scheduler: actual - scheduled start
        self.late_starts = 0  # arrivals started more than 10 ms late
        self.cpu: list[list[float]] = []  # [epoch s, percent of one core] once a second
        self.user_counts: list[list[float]] = []  # [epoch s, users] once a second
        self.rss_max = 0
        self.rss_start = 0  # before the first user: what each session added is above it
        self.collector = CollectorOffTheClock()
        self._process = psutil.Process()
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self._process.cpu_percent(None)
            self.rss_start = self.rss_start or self._process.memory_info().rss
            self.collector.start()
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True)  # gone before the collection below: not a lag
            self._greenlet = None
            self.collector.stop()

    def _run(self) -> None:
        next_cpu = time.perf_counter() + 1.0
        while True:
            before = time.perf_counter()
            gevent.sleep(self.interval_s)
            after = time.perf_counter()
            self.loop_lag.record_value(max(1, micros(after - before - self.interval_s)))
            if after >= next_cpu:
                next_cpu = after + 1.0
                now = round(time.time(), 3)
                self.cpu.append([now, self._process.cpu_percent(None)])
                if self.users is not None:
                    self.user_counts.append([now, self.users()])
                self.rss_max = max(self.rss_max, self._process.memory_info().rss)

    def record_schedule_lag(self, lag_s: float) -> None:
        self.schedule_lag.record_value(max(1, micros(max(lag_s, 0.0))))
        if lag_s > 0.010:
            self.late_starts += 1

    def summary(self, timelines: bool = True) -> dict[str, Any]:
        """msgpack-safe figures for run.json; without the timelines, a process's figures so
        far, which it ships with every report (a worker that dies keeps those)."""
        cpu = [c for _, c in self.cpu]
        return {
            "cpu_max_pct": max(cpu) if cpu else None,
            "cpu_mean_pct": round(sum(cpu) / len(cpu), 1) if cpu else None,
            "cpu_timeline": self.cpu if timelines else [],
            "users_timeline": self.user_counts if timelines else [],
            "rss_max_mb": round(self.rss_max / 2**20, 1),
            "rss_start_mb": round(self.rss_start / 2**20, 1),
            "loop_lag_p50_ms": hist_ms(self.loop_lag, 50),
            "loop_lag_p99_ms": hist_ms(self.loop_lag, 99),
            "loop_lag_max_ms": hist_max_ms(self.loop_lag),
            "loop_lag_samples": self.loop_lag.total_count,
            "schedule_lag_p99_ms": hist_ms(self.schedule_lag, 99),
            "schedule_lag_max_ms": hist_max_ms(self.schedule_lag),
            "arrivals": self.schedule_lag.total_count,
            "late_starts": self.late_starts,
            "gc_collections": self.collector.pauses.total_count,
            "gc_pause_max_ms": hist_max_ms(self.collector.pauses),
            "gc_garbage_at_end": self.collector.garbage_at_end,
        }
