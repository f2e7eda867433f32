"""What each process measured (per-phase histograms, error counts, accounting, sample rows)
and the coordinator's merge of them.

Each process records every PhaseSample into a per-phase histogram and a raw row, and ships
*deltas* (histograms encoded, counters) to the coordinator, which adds them up. A local run
ships to itself, so both paths are the same code. Deltas are msgpack-safe (Locust's
worker -> master channel): no sets, no numpy types.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.protocol.session import PhaseSample
from harness.record.histograms import MAX_US, hist_max_ms, hist_ms, new_histogram, record
from harness.record.samples import SampleWriter
from harness.record.schema import labelled, phase_order, split_labelled

log = logging.getLogger("harness")
MAX_LABELS = 200
"""Step names, and tenant names, one process keeps series for."""
NEGATIVE_DURATION = "negative_duration"
"""The harness error counted for a phase sample that ends before it starts."""


@dataclass
class Accounting:
    """Every lifecycle started ends exactly once: completed, failed (by class) or
    interrupted (cut off by a stop), or lost (in flight on a worker process that died: how
    they ended is unknown). `interrupted_explained` is how many lifecycles the
    stops could have cut off (one per stopped user, or an arrival user's lifecycles in
    flight): more interrupted than that means something else cut lifecycles short.
    `protocol_violations` counts what the platform did wrong without ending a lifecycle
    (stray reply chunks, ready before auth, ready twice); `harness_errors` counts our own
    exceptions by type."""

    started: int = 0
    ready: int = 0
    completed: int = 0
    interrupted: int = 0
    interrupted_explained: int = 0
    lost: int = 0
    reconnects: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    protocol_violations: Counter[str] = field(default_factory=Counter)
    harness_errors: Counter[str] = field(default_factory=Counter)
    labels_dropped: Counter[str] = field(default_factory=Counter)  # samples, by label kind

    def add(self, other: dict[str, Any]) -> None:
        for key in COUNTS:
            setattr(self, key, getattr(self, key) + int(other.get(key, 0)))
        for key in TALLIES:
            getattr(self, key).update({k: int(v) for k, v in (other.get(key) or {}).items()})

    def minus(self, before: Accounting) -> dict[str, Any]:
        """What changed since `before`, as a delta for `add`."""
        delta: dict[str, Any] = {k: getattr(self, k) - getattr(before, k) for k in COUNTS}
        for key in TALLIES:
            now, then = getattr(self, key), getattr(before, key)
            delta[key] = {k: v - then.get(k, 0) for k, v in now.items() if v != then.get(k, 0)}
        return delta

    def as_dict(self) -> dict[str, Any]:
        failed_total = sum(self.failed.values())
        return {
            "started": self.started,
            "ready": self.ready,
            "completed": self.completed,
            "failed": dict(sorted(self.failed.items())),
            "failed_total": failed_total,
            "interrupted": self.interrupted,
            "interrupted_explained": self.interrupted_explained,
            "interrupted_unexplained": max(0, self.interrupted - self.interrupted_explained),
            "lost": self.lost,
            "in_flight": self.started
            - self.completed
            - failed_total
            - self.interrupted
            - self.lost,
            "reconnects": self.reconnects,
            "protocol_violations": dict(sorted(self.protocol_violations.items())),
            "harness_errors": dict(sorted(self.harness_errors.items())),
            "labels_dropped": dict(sorted(self.labels_dropped.items())),
        }


COUNTS = tuple(f.name for f in fields(Accounting) if f.type == "int")
TALLIES = tuple(f.name for f in fields(Accounting) if f.type.startswith("Counter"))


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
        self._labels: dict[str, set[str]] = {}  # step and tenant names seen
        self._dropped: set[str] = set()  # kinds of label past MAX_LABELS
        self._names: dict[tuple[str, str, str], str] = {}  # (phase, label, value) -> name

    def record(self, sample: PhaseSample) -> None:
        """The timing sink every session of this process reports to."""
        if sample.duration_us < 0:  # no phase ends before it starts: a clock stepped
            self._clock_went_backwards(sample)
        self._count(sample.phase, sample)
        if sample.step is not None or sample.tenant is not None:
            sample = self._labelled(sample)  # the same sample, in its step's figures too
        self._rows.append(sample)  # formatted when flushed, off the receive path
        if self.fire_request is not None:
            self.fire_request(sample)

    def _labelled(self, sample: PhaseSample) -> PhaseSample:
        """Count a labelled sample in its step's and tenant's series too. A process keeps at
        most MAX_LABELS names of each kind: a script that names steps without end (an id in
        the name) would fill memory with histograms; later names are dropped, said once."""
        step, tenant = sample.step, sample.tenant
        if step is not None and not self._admit("step", step):
            step = None
        if tenant is not None and not self._admit("tenant", tenant):
            tenant = None
        if (step, tenant) != (sample.step, sample.tenant):
            sample = sample._replace(step=step, tenant=tenant)
        names = self._names
        for label, value in (("step", step), ("tenant", tenant)):
            if value is not None:
                key = (sample.phase, label, value)
                name = names.get(key)
                if name is None:
                    name = names[key] = labelled(*key)
                self._count(name, sample)
        return sample

    def _admit(self, label: str, value: str) -> bool:
        seen = self._labels.setdefault(label, set())
        if value in seen:
            return True
        if len(seen) < MAX_LABELS:
            seen.add(value)
            return True
        self.accounting.labels_dropped[label] += 1  # the run record says its series are partial
        if label not in self._dropped:
            self._dropped.add(label)
            log.warning(
                "harness: more than %d %s names in this process (%r is one too many): the "
                "rest are counted in their phases, not by %s; name steps by what they are, "
                "not by an id",
                MAX_LABELS,
                label,
                value,
                label,
            )
        return False

    def _count(self, name: str, sample: PhaseSample) -> None:
        if sample.ok:
            hist = self._hists.get(name)
            if hist is None:
                hist = self._hists[name] = new_histogram()
            record(hist, min(max(sample.duration_us, 1), MAX_US))
        else:
            self._errors[(name, sample.error or "unknown")] += 1

    def _clock_went_backwards(self, sample: PhaseSample) -> None:
        """Counted as a harness error (the run is invalid: its timings cannot be trusted);
        the histogram can only hold it as 1 µs, the raw row keeps the true value."""
        seen = self.accounting.harness_errors
        seen[NEGATIVE_DURATION] += 1
        if seen[NEGATIVE_DURATION] == 1:
            log.error(
                "harness_error: %s %s took %d us: a clock went backwards (wall clock stepped?); "
                "the run's timings cannot be trusted",
                sample.phase,
                sample.session_id,
                sample.duration_us,
            )

    def flush_rows(self, limit: int | None = None) -> int:
        """Write buffered raw rows through to the file, at most `limit` of them (kept in
        memory until a writer is attached); returns how many are left. A write error stops
        the writer; `writer.error` says why."""
        if self.writer is None or not self._rows:
            return len(self._rows)
        if limit is None or limit >= len(self._rows):
            samples, self._rows = self._rows, []
        else:
            samples, self._rows = self._rows[:limit], self._rows[limit:]
        self.writer.write(samples, self.worker_id)
        return len(self._rows)

    def take_delta(self) -> dict[str, Any]:
        """Everything since the last call, msgpack-safe, and reset."""
        hists = {phase: h.encode().decode() for phase, h in self._hists.items()}
        self._hists = {}
        errors = [[p, e, n] for (p, e), n in self._errors.items()]
        self._errors = Counter()
        acct = self.accounting.minus(self._shipped)
        self._shipped = copy.deepcopy(self.accounting)
        delta: dict[str, Any] = {"hist": hists, "errors": errors, "accounting": acct}
        if self.writer is not None:
            delta["samples"] = self.writer.status()
        return delta


@dataclass
class WorkerRecord:
    """What the coordinator knows of one process."""

    accounting: Accounting = field(default_factory=Accounting)
    samples: dict[str, Any] | None = None  # the writer's last status: file, rows, closed
    health: dict[str, Any] | None = None
    final: bool = False
    last_report: float | None = None  # epoch s
    # Its clock against the coordinator's: the least (received - sent) over its reports, in
    # ms: the coordinator's wall clock minus the worker's, plus the shortest one-way delay
    clock_offset_ms: float | None = None
    clock_reports: int = 0


class MergedResults:
    """The sum over every process: merged histograms, error counts, accounting per worker."""

    def __init__(self) -> None:
        self.hists: dict[str, HdrHistogram] = {}
        self.errors: Counter[tuple[str, str]] = Counter()
        self.accounting = Accounting()
        self.workers: dict[str, WorkerRecord] = {}

    def merge(self, worker_id: str, delta: dict[str, Any], at: float | None = None) -> None:
        for phase, encoded in delta.get("hist", {}).items():
            hist = self.hists.get(phase)
            if hist is None:
                hist = self.hists[phase] = new_histogram()
            hist.decode_and_add(encoded)
        for phase, error, n in delta.get("errors", []):
            self.errors[(phase, error)] += n
        acct = delta.get("accounting", {})
        self.accounting.add(acct)
        worker = self.workers.setdefault(worker_id, WorkerRecord())
        worker.accounting.add(acct)
        worker.last_report = at
        sent = delta.get("sent_at")
        if isinstance(sent, int | float) and at is not None:
            offset = round((at - sent) * 1000, 3)
            known = worker.clock_offset_ms
            worker.clock_offset_ms = offset if known is None else min(known, offset)
            worker.clock_reports += 1
        if delta.get("samples"):
            worker.samples = delta["samples"]
        if "health" in delta:
            worker.health = delta["health"]
        if delta.get("final"):
            worker.final = True

    def worker_lost(self, worker_id: str) -> None:
        """A worker died: what it had in flight at its last report ended unknown."""
        record = self.workers.get(worker_id)
        if record is None:
            return
        in_flight = record.accounting.as_dict()["in_flight"]
        record.accounting.lost += in_flight
        self.accounting.lost += in_flight

    @property
    def final(self) -> set[str]:
        return {w for w, r in self.workers.items() if r.final}

    @property
    def health(self) -> dict[str, dict[str, Any]]:
        return {w: r.health for w, r in sorted(self.workers.items()) if r.health is not None}

    def phase_table(self, labelled: bool = False) -> dict[str, dict[str, Any]]:
        """Per phase: count (ok), errors by class, p50/p90/p95/p99/max in ms, nearest rank
        on the merged histograms (3 significant figures). `labelled`: the phases by step
        and by tenant too (`chat_complete{step:x}`)."""
        table: dict[str, dict[str, Any]] = {}
        names = set(self.hists) | {p for p, _ in self.errors}
        if not labelled:
            names = {name for name in names if split_labelled(name) is None}
        for phase in sorted(names, key=phase_order):
            hist = self.hists.get(phase)
            errors = {e: n for (p, e), n in sorted(self.errors.items()) if p == phase}
            row: dict[str, Any] = {
                "count": hist.get_total_count() if hist else 0,
                "errors": sum(errors.values()),
                "errors_by_class": errors,
            }
            for q in (50, 90, 95, 99):
                row[f"p{q}_ms"] = hist_ms(hist, q) if hist else None
            row["max_ms"] = hist_max_ms(hist) if hist else None
            table[phase] = row
        return table
