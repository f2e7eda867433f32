"""Per-process phase results (histograms, raw samples, accounting) and their merge.

Each process records every PhaseSample into a per-phase HdrHistogram (integer µs, 3
significant figures) and a raw row; it ships *deltas* (histograms encoded, counters) to the
master, which adds them up. A local run ships to itself, so both paths are the same code.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hdrh.histogram import HdrHistogram

from harness.protocol.session import PhaseSample

MAX_US = 3_600_000_000  # one hour: anything longer is clipped to it
SAMPLE_FIELDS = ("session_id", "phase", "start", "duration_us", "ok", "error", "attempt", "worker")


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, MAX_US, 3)


@dataclass
class Accounting:
    """Every lifecycle started ends exactly once: completed, failed (by class) or interrupted."""

    started: int = 0
    ready: int = 0
    completed: int = 0
    interrupted: int = 0
    reconnects: int = 0
    failed: Counter[str] = field(default_factory=Counter)

    def add(self, other: dict[str, Any]) -> None:
        for key in ("started", "ready", "completed", "interrupted", "reconnects"):
            setattr(self, key, getattr(self, key) + int(other.get(key, 0)))
        self.failed.update({k: int(v) for k, v in other.get("failed", {}).items()})

    def as_dict(self) -> dict[str, Any]:
        failed_total = sum(self.failed.values())
        return {
            "started": self.started,
            "ready": self.ready,
            "completed": self.completed,
            "failed": dict(sorted(self.failed.items())),
            "failed_total": failed_total,
            "interrupted": self.interrupted,
            "in_flight": self.started - self.completed - failed_total - self.interrupted,
            "reconnects": self.reconnects,
        }


class SampleWriter:
    """Raw samples of one process, appended as CSV."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("w", newline="", buffering=1 << 20)
        self._csv = csv.writer(self._file)
        self._csv.writerow(SAMPLE_FIELDS)

    def write(self, rows: list[tuple[object, ...]]) -> None:
        self._csv.writerows(rows)

    def close(self) -> None:
        self._file.close()


class ProcessResults:
    """What one process measured since it last shipped, plus its raw rows."""

    def __init__(
        self, worker_id: str, fire_request: Callable[[PhaseSample], None] | None = None
    ) -> None:
        self.worker_id = worker_id
        self.fire_request = fire_request
        self.accounting = Accounting()  # cumulative for this process
        self._shipped = Accounting()
        self._hists: dict[str, HdrHistogram] = {}
        self._errors: Counter[tuple[str, str]] = Counter()
        self._rows: list[PhaseSample] = []
        self.writer: SampleWriter | None = None

    def record(self, sample: PhaseSample) -> None:
        """The timing sink every session of this process reports to."""
        if sample.ok:
            hist = self._hists.get(sample.phase)
            if hist is None:
                hist = self._hists[sample.phase] = new_histogram()
            hist.record_value(min(max(sample.duration_us, 1), MAX_US))
        else:
            self._errors[(sample.phase, sample.error or "unknown")] += 1
        self._rows.append(sample)  # formatted when flushed, off the receive path
        if self.fire_request is not None:
            self.fire_request(sample)

    def flush_rows(self) -> None:
        """Write buffered raw rows (kept in memory until a writer is attached)."""
        if self.writer is not None and self._rows:
            samples, self._rows = self._rows, []
            w = self.worker_id
            self.writer.write(
                [
                    (
                        s.session_id,
                        s.phase,
                        f"{s.start:.6f}",
                        s.duration_us,
                        int(s.ok),
                        s.error or "",
                        s.attempt,
                        w,
                    )
                    for s in samples
                ]
            )

    def take_delta(self) -> dict[str, Any]:
        """Everything since the last call, msgpack-safe, and reset."""
        hists = {phase: h.encode().decode() for phase, h in self._hists.items()}
        self._hists = {}
        errors = [[p, e, n] for (p, e), n in self._errors.items()]
        self._errors = Counter()
        now = self.accounting.as_dict()
        before = self._shipped.as_dict()
        acct = {
            k: now[k] - before[k]
            for k in ("started", "ready", "completed", "interrupted", "reconnects")
        }
        acct["failed"] = {k: v - before["failed"].get(k, 0) for k, v in now["failed"].items()}
        self._shipped = Accounting()
        self._shipped.add(now)
        return {"hist": hists, "errors": errors, "accounting": acct}


class MergedResults:
    """The sum over every process: merged histograms, error counts, accounting per worker."""

    def __init__(self) -> None:
        self.hists: dict[str, HdrHistogram] = {}
        self.errors: Counter[tuple[str, str]] = Counter()
        self.accounting = Accounting()
        self.workers: dict[str, Accounting] = {}
        self.health: dict[str, dict[str, Any]] = {}
        self.final: set[str] = set()

    def merge(self, worker_id: str, delta: dict[str, Any]) -> None:
        for phase, encoded in delta.get("hist", {}).items():
            hist = self.hists.get(phase)
            if hist is None:
                hist = self.hists[phase] = new_histogram()
            hist.decode_and_add(encoded)
        for phase, error, n in delta.get("errors", []):
            self.errors[(phase, error)] += n
        acct = delta.get("accounting", {})
        self.accounting.add(acct)
        self.workers.setdefault(worker_id, Accounting()).add(acct)
        if "health" in delta:
            self.health[worker_id] = delta["health"]
        if delta.get("final"):
            self.final.add(worker_id)

    def phase_table(self) -> dict[str, dict[str, Any]]:
        """Per phase: count (ok), errors by class, p50/p90/p95/p99/max in ms (histogram)."""
        table: dict[str, dict[str, Any]] = {}
        phases = sorted(set(self.hists) | {p for p, _ in self.errors}, key=phase_order)
        for phase in phases:
            hist = self.hists.get(phase)
            errors = {e: n for (p, e), n in sorted(self.errors.items()) if p == phase}
            row: dict[str, Any] = {
                "count": hist.get_total_count() if hist else 0,
                "errors": sum(errors.values()),
                "errors_by_class": errors,
            }
            for q in (50, 90, 95, 99):
                row[f"p{q}_ms"] = hist.get_value_at_percentile(q) / 1000 if hist else None
            row["max_ms"] = hist.get_max_value() / 1000 if hist else None
            table[phase] = row
        return table


PHASE_ORDER = ("connect", "auth_delay", "platform_init", "ready", "chat_first", "chat_complete",
               "heartbeat", "reconnect")  # fmt: skip


def phase_order(phase: str) -> tuple[int, str]:
    return (PHASE_ORDER.index(phase) if phase in PHASE_ORDER else len(PHASE_ORDER), phase)
