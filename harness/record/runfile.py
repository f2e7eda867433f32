"""run.json, histograms.json and the report files of a run directory: writing and reading.

`RunRecord` is the coordinator's (master's or local runner's) record of one run; it is the
only writer of run.json and histograms.json. The readers check schema versions and tell
whether the samples files hold every row run.json says were written.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.record import schema, shape
from harness.record.files import write_json, write_text
from harness.record.results import MergedResults
from harness.record.rundir import create_run_dir, epoch_of, iso_of, now_iso, point_latest

STOPPED_SLACK_S = 1.0  # a run that ends this much before its plan was stopped


@dataclass
class LostWorker:
    worker: str
    noticed_at: str  # ISO time the coordinator noticed
    last_report_at: str | None


@dataclass
class RunRecord:
    """One run's record, kept by its coordinator. `meta` is what describes the run (target,
    scenario, settings, versions ...) and goes into run.json as is."""

    run_dir: Path
    run_id: str
    meta: dict[str, Any] = field(default_factory=dict)
    merged: MergedResults = field(default_factory=MergedResults)
    lost: dict[str, LostWorker] = field(default_factory=dict)
    started: str | None = None
    planned_s: float | None = None
    stop_reason: str | None = None
    status: str = "starting"
    _started_at: float | None = None
    _stopped_at: float | None = None

    @classmethod
    def create(cls, reports: Path, run_id: str, meta: dict[str, Any]) -> RunRecord:
        record = cls(create_run_dir(reports, run_id), run_id, dict(meta))
        try:
            record.write()
        except HarnessError:  # a full disk: no directory without its run.json
            shutil.rmtree(record.run_dir, ignore_errors=True)
            raise
        return record

    # -- the run's course, as the coordinator sees it -------------------------------------

    def start(self, planned_s: float | None) -> None:
        """The run measures: say so in run.json, and make it reports/latest."""
        self.started, self._started_at = now_iso(), time.time()
        self.planned_s = planned_s
        self.status = "running"
        self.write()
        point_latest(self.run_dir.parent.parent, self.run_id)

    def discard(self) -> bool:
        """Remove the directory of a run that never started measuring (the command was
        rejected, or the web UI closed without a test): a run directory is only for a run."""
        if self.status != "starting":
            return False
        shutil.rmtree(self.run_dir, ignore_errors=True)
        return True

    def stopping(self, reason: str | None = None) -> None:
        """The measured part is over (first call counts): when, and why if not the plan."""
        if self._stopped_at is None:
            self._stopped_at = time.time()
        if reason and not self.stop_reason:
            self.stop_reason = reason

    def merge(self, worker: str, delta: dict[str, Any]) -> None:
        self.merged.merge(worker, delta, time.time())

    def worker_lost(self, worker: str) -> None:
        last = self.merged.workers.get(worker)
        if worker in self.lost or (last is not None and last.final):
            return
        last_at = last.last_report if last else None
        self.lost[worker] = LostWorker(
            worker, now_iso(), None if last_at is None else iso_of(last_at)
        )

    def worker_found(self, worker: str) -> bool:
        """A worker taken for lost sent its final figures after all: it is not lost (every
        delta it shipped was merged, so its figures are whole). True if it was taken."""
        return self.lost.pop(worker, None) is not None

    @property
    def actual_s(self) -> float | None:
        if self._started_at is None:
            return None
        return round((self._stopped_at or time.time()) - self._started_at, 3)

    def final_status(self) -> str:
        actual = self.actual_s
        early = (
            self.planned_s is not None
            and actual is not None
            and actual < self.planned_s - STOPPED_SLACK_S
        )
        return "stopped" if early or self.stop_reason else "complete"

    # -- files ------------------------------------------------------------------------------

    def health(self, tolerance_ms: float) -> dict[str, Any]:
        """Every process's health figures (a lost worker's as of its last report), and whether
        the run is valid: not if a process's loop lagged, or if one that ran lifecycles never
        said how its loop did."""
        processes = self.merged.health
        reasons = [
            f"process {worker}: event-loop lag p99 {h['loop_lag_p99_ms']:.1f} ms > tolerance "
            f"{tolerance_ms:g} ms"
            for worker, h in processes.items()
            if h.get("loop_lag_p99_ms") is not None and h["loop_lag_p99_ms"] > tolerance_ms
        ]
        reasons += [
            f"process {worker}: ran {r.accounting.started} lifecycles but sent no health "
            "figures (lost before its first report)"
            for worker, r in sorted(self.merged.workers.items())
            if r.accounting.started and r.health is None
        ]
        lags = [h["loop_lag_p99_ms"] for h in processes.values() if h.get("loop_lag_p99_ms")]
        cpus = [h["cpu_max_pct"] for h in processes.values() if h.get("cpu_max_pct")]
        return {
            "valid": not reasons,
            "reasons": reasons,
            "loop_lag_tolerance_ms": tolerance_ms,
            "loop_lag_p99_ms": max(lags) if lags else None,
            "cpu_max_pct": max(cpus) if cpus else None,
            "processes": processes,
        }

    def body(self, **extra: Any) -> dict[str, Any]:
        workers = self.merged.workers
        return {
            "schema_version": schema.RUN_JSON,
            "run_id": self.run_id,
            "status": self.status,
            "started": self.started,
            "ended": None,
            "planned_s": self.planned_s,
            "actual_s": self.actual_s if self.status != "starting" else None,
            "stop_reason": self.stop_reason,
            **self.meta,
            "samples": {w: r.samples for w, r in sorted(workers.items()) if r.samples},
            "workers_lost": [asdict(lost) for lost in self.lost.values()],
            "clocks": {
                w: {
                    "host": (r.samples or {}).get("host"),
                    "offset_ms": r.clock_offset_ms,
                    "reports": r.clock_reports,
                }
                for w, r in sorted(workers.items())
                if r.clock_reports
            },
            **extra,
        }

    def write(self, **extra: Any) -> None:
        write_json(self.run_dir / "run.json", self.body(**extra))

    def finish(self, tolerance_ms: float) -> dict[str, Any]:
        """Write histograms.json and the final run.json; return run.json's body."""
        merged = self.merged
        for worker in self.lost:
            merged.worker_lost(worker)
        phases = merged.phase_table()
        series = merged.phase_table(labelled=True)
        write_json(
            self.run_dir / "histograms.json",
            {
                "schema_version": schema.HISTOGRAMS_JSON,
                "unit": "microseconds",
                "significant_figures": 3,
                "percentile_rule": schema.PERCENTILE_RULE,
                "phases": {
                    phase: {
                        "count": row["count"],
                        "errors": row["errors_by_class"],
                        "hdr": merged.hists[phase].encode().decode()
                        if phase in merged.hists
                        else None,
                    }
                    for phase, row in series.items()
                },
            },
        )
        self.stopping()
        self.status = self.final_status()
        accounting = merged.accounting.as_dict()
        body = self.body(
            ended=now_iso(),
            accounting={
                "total": accounting,
                "workers": {w: r.accounting.as_dict() for w, r in sorted(merged.workers.items())},
                "identity_holds": accounting["in_flight"] == 0
                and all(r.accounting.as_dict()["in_flight"] == 0 for r in merged.workers.values()),
            },
            health=self.health(tolerance_ms),
            percentile_rule=schema.PERCENTILE_RULE,
            phases=phases,
        )
        write_json(self.run_dir / "run.json", body)
        return body


def write_outputs(run_dir: Path, outputs: dict[str, str]) -> None:
    """The report's files (summary.json, report.html, ...), each written atomically."""
    for name, text in outputs.items():
        write_text(run_dir / name, text)


# -- reading ------------------------------------------------------------------------------


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise HarnessError(f"{path}: not valid JSON ({str(exc)[:200]})") from None
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(body, dict):
        raise HarnessError(f"{path}: not {what}")
    oldest, newest = schema.READABLE[path.name]
    version = body.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or not oldest <= version <= newest:
        raise HarnessError(
            f"{path}: schema_version {version!r}; this harness reads versions {oldest} to {newest}"
        )
    shape.check_shape(body, shape.BY_NAME[path.name], str(path))
    return body


def read_run_json(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: no such run directory")
    path = run_dir / "run.json"
    if not path.is_file():
        raise HarnessError(f"{run_dir}: not a run directory (no run.json)")
    return _read_json(path, "a run description")


def read_histograms(run_dir: Path) -> dict[str, Any]:
    return _read_json(run_dir / "histograms.json", "a histograms file")


@dataclass(frozen=True)
class SampleFile:
    path: Path
    worker: str
    expected_rows: int | None  # None: run.json does not say (schema 1)
    final: bool  # the process closed it: it must hold exactly expected_rows
    write_error: str | None = None
    here: bool = True  # written on the coordinator's machine (else gathered by hand, or not)


def sample_files(run_dir: Path, run: dict[str, Any]) -> list[SampleFile]:
    """The samples files run.json lists (schema 2), or every samples/*.csv: schema 1, and a
    run that never finished (its last run.json was written before any file was listed)."""
    listed = run.get("samples")
    unfinished = run.get("status") in ("starting", "running")
    if run.get("schema_version", 1) < 2 or listed is None or unfinished:
        return [
            SampleFile(p, p.stem, None, False) for p in sorted((run_dir / "samples").glob("*.csv"))
        ]
    if not isinstance(listed, dict):
        raise HarnessError(f"{run_dir}/run.json: 'samples' is not a table of files")
    host = (run.get("host") or {}).get("hostname")
    return [_sample_file(run_dir, worker, s, host) for worker, s in sorted(listed.items())]


def _sample_file(run_dir: Path, worker: str, s: Any, host: str | None) -> SampleFile:
    """One entry of run.json's `samples`, checked: a file under samples/, a row count."""
    try:
        name = Path(str(s["file"])).name  # only ever a file in samples/
        rows = int(s.get("rows", 0))
    except (TypeError, KeyError, ValueError):
        raise HarnessError(
            f"{run_dir}/run.json: samples entry {worker!r} is not a file and a row count"
        ) from None
    return SampleFile(
        run_dir / "samples" / name,
        worker,
        rows,
        bool(s.get("closed")),
        s.get("error"),
        s.get("host", host) == host,
    )


def sample_problems(files: list[SampleFile], rows: dict[Path, int]) -> list[str]:
    """Why the samples read cannot be the whole run's (each makes the run invalid)."""
    problems = []
    for f in files:
        if f.expected_rows is None:
            continue
        found = rows.get(f.path)
        if found is None:
            if f.expected_rows > 0 or f.final:
                problems.append(
                    f"{f.path.name}: missing, run.json says it holds {f.expected_rows} rows"
                )
        elif f.write_error:
            problems.append(f"{f.path.name}: writing it failed ({f.write_error})")
        elif f.final and found != f.expected_rows:  # closed: exactly what was written
            problems.append(
                f"{f.path.name}: holds {found} rows, run.json says {f.expected_rows} "
                "(truncated or altered)"
            )
        elif found < f.expected_rows:
            problems.append(
                f"{f.path.name}: holds {found} rows, fewer than the {f.expected_rows} "
                "its process had written (truncated)"
            )
    return problems


def run_epoch(run: dict[str, Any]) -> float | None:
    return epoch_of(run.get("started"))
