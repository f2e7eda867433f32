"""A run directory as arrays: run.json, the raw samples (or merged histograms), read through
the run record's readers (harness/record), with what is missing from them.

Raw samples are read in chunks, keeping only numbers (phase and error as codes, a 64-bit
hash for session ids), so ten million samples fit in a few hundred MB.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.errors import HarnessError
from harness.record.runfile import (
    SampleFile,
    read_histograms,
    read_run_json,
    run_epoch,
    sample_files,
    sample_problems,
)
from harness.record.samples import read_chunks
from harness.record.schema import LABELS, labelled, split_labelled

if TYPE_CHECKING:  # imported where samples are read: not by a load run's processes
    import pandas as pd


@dataclass
class PhaseData:
    ok_us: np.ndarray  # durations of successful samples, sorted
    ok_start: np.ndarray  # their start times (epoch s), in the same (sorted-by-duration) order
    error_start: np.ndarray  # start times of failed samples
    error_class: np.ndarray  # their error classes (str)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return len(self.ok_us)


@dataclass
class RunData:
    run_dir: Path
    run: dict[str, Any]
    phases: dict[str, PhaseData]
    t0: float  # epoch s of the run's start
    chatted: int | None  # lifecycles with a completed chat (None from histograms only)
    connected: int | None
    source: str  # "raw samples" or "merged histograms"
    excluded_warmup: int = 0
    missing: list[str] = field(default_factory=list)  # why the data cannot be the whole run
    # Completed replies (raw samples only): chunks each, and its stream's characters per
    # second after the first chunk (NaN for a stream of no measurable time)
    reply_chunks: np.ndarray = field(default_factory=lambda: np.empty(0))
    reply_rates: np.ndarray = field(default_factory=lambda: np.empty(0))
    # The phases by step and by tenant, named `chat_complete{step:x}` (schema.labelled)
    breakdown: dict[str, PhaseData] = field(default_factory=dict)

    def series(self, name: str) -> PhaseData | None:
        """A phase's data, or a labelled name's (`chat_complete{step:x}`)."""
        return self.phases.get(name) or self.breakdown.get(name)


Progress = Callable[[int], None]
"""Told the samples read so far, after each chunk of a large run."""


def load_run(run_dir: Path, warmup_s: float = 0.0, progress: Progress | None = None) -> RunData:
    run = read_run_json(run_dir)
    files = sample_files(run_dir, run)
    present = [f for f in files if f.path.is_file()]
    if present:
        return _from_samples(run_dir, run, files, present, warmup_s, progress)
    if (run_dir / "histograms.json").is_file():
        # No samples file here (remote workers keep theirs on their machines): the merged
        # histograms hold every sample, within 3 significant figures. A file written on this
        # machine must be here all the same.
        data = _from_histograms(run_dir, run)
        data.missing = sample_problems([f for f in files if f.here], {})
        return data
    raise HarnessError(f"{run_dir}: no raw samples (samples/*.csv) and no histograms.json")


def _from_samples(
    run_dir: Path,
    run: dict[str, Any],
    files: list[SampleFile],
    present: list[SampleFile],
    warmup_s: float,
    progress: Progress | None = None,
) -> RunData:
    import pandas as pd

    phase_codes: dict[str, int] = {}
    error_codes: dict[str, int] = {"": 0}
    label_codes: dict[str, dict[str, int]] = {label: {"": 0} for label in LABELS}
    parts: list[tuple[np.ndarray, ...]] = []
    rows: dict[Path, int] = {}
    for f in present:
        path = f.path
        rows[path] = 0
        try:
            for chunk in read_chunks(path):
                rows[path] += len(chunk)
                if progress is not None:
                    progress(sum(rows.values()))
                phase = _codes(chunk["phase"], phase_codes)
                error = _codes(chunk["error"], error_codes)
                session = pd.util.hash_array(chunk["session_id"].to_numpy(dtype=object))
                parts.append(
                    (
                        phase,
                        chunk["start"].to_numpy(),
                        chunk["duration_us"].to_numpy(),
                        chunk["ok"].to_numpy(),
                        error,
                        chunk["attempt"].to_numpy(),
                        session,
                        _column(chunk, "chunks"),
                        _column(chunk, "chars_per_s"),
                        *(
                            _codes(chunk[label], label_codes[label])
                            if label in chunk.columns
                            else np.zeros(len(chunk), dtype=np.int32)  # before version 3
                            for label in LABELS
                        ),
                    )
                )
        except (ValueError, OverflowError) as exc:
            why = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise HarnessError(f"{path}: corrupt samples file ({why})") from None
        except OSError as exc:
            raise HarnessError(f"{path}: cannot read ({exc.strerror or exc})") from None
    missing = sample_problems(files, rows)
    if not parts:
        if missing:
            return RunData(run_dir, run, {}, run_epoch(run) or 0.0, 0, 0, "raw samples", 0, missing)
        raise HarnessError(f"{run_dir}: the samples files hold no samples")
    phase, start, duration, ok, error, attempt, session, chunks, rates, *labels = (
        np.concatenate(c) for c in zip(*parts, strict=True)
    )
    if not np.isfinite(start).all():
        raise HarnessError(f"{run_dir}/samples: corrupt samples file (a start time is not finite)")
    t0 = run_epoch(run) or float(start.min())
    keep = start >= t0 + warmup_s
    excluded = int((~keep).sum())
    phase, start, duration, ok, error, attempt, session, chunks, rates, *labels = (
        a[keep]
        for a in (phase, start, duration, ok, error, attempt, session, chunks, rates, *labels)
    )
    error_names = np.array(sorted(error_codes, key=error_codes.__getitem__), dtype=object)

    def phase_data(rows: np.ndarray) -> PhaseData:
        """The samples at these row indices, as one phase's data."""
        good = rows[ok[rows] == 1]
        bad = rows[ok[rows] == 0]
        order = np.argsort(duration[good], kind="stable")
        classes = error_names[error[bad]]
        return PhaseData(
            duration[good][order],
            start[good][order],
            start[bad],
            classes,
            Counter(classes.tolist()),
        )

    phases = {name: phase_data(np.flatnonzero(phase == code)) for name, code in phase_codes.items()}
    phase_names = {code: name for name, code in phase_codes.items()}
    breakdown = {}
    for label, values in zip(LABELS, labels, strict=True):
        value_names = {code: value for value, code in label_codes[label].items()}
        at = np.flatnonzero(np.asarray(values) > 0)  # code 0: no label
        if not len(at):
            continue
        # one pass: rows grouped by (phase, value), however many values there are
        key = phase[at].astype(np.int64) * len(value_names) + values[at]
        order = np.argsort(key, kind="stable")
        at, key = at[order], key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        for first, end in zip(starts, np.r_[starts[1:], len(key)], strict=True):
            code, value = divmod(int(key[first]), len(value_names))
            name = labelled(phase_names[code], label, value_names[value])
            breakdown[name] = phase_data(at[first:end])
    chat = phase_codes.get("chat_complete", -1)
    replied = (phase == chat) & (ok == 1)
    chatted = len(np.unique(session[replied]))
    connect = phase_codes.get("connect", -1)
    connected = int(((phase == connect) & (ok == 1) & (attempt == 0)).sum())
    replies = replied & ~np.isnan(chunks)
    return RunData(
        run_dir,
        run,
        phases,
        t0,
        chatted,
        connected,
        "raw samples",
        excluded,
        missing,
        chunks[replies],
        rates[replies],
        breakdown,
    )


def _column(chunk: pd.DataFrame, name: str) -> np.ndarray:
    """A float column of the chunk; NaN throughout when the file has none (version 1)."""
    if name in chunk.columns:
        return chunk[name].to_numpy(dtype=np.float64)
    return np.full(len(chunk), np.nan)


def _codes(column: pd.Series, table: dict[str, int]) -> np.ndarray:
    """Integer codes for a categorical column, consistent across chunks and files."""
    categories = column.cat.categories
    mapping = np.array([table.setdefault(str(c), len(table)) for c in categories], dtype=np.int32)
    codes = column.cat.codes.to_numpy()
    if (codes < 0).any():
        raise ValueError(f"missing value in column {column.name}")
    return mapping[codes]


def _decode(text: str, where: str) -> HdrHistogram:
    """A base64 HdrHistogram; its decoder raises many kinds of error on a damaged one."""
    try:
        return HdrHistogram.decode(text)
    except Exception as exc:  # binascii, zlib, struct, ValueError ...: all mean damaged
        raise HarnessError(f"{where}: not a histogram ({type(exc).__name__})") from None


def _from_histograms(run_dir: Path, run: dict[str, Any]) -> RunData:
    """Runs without raw samples: percentiles within the histograms' 3 significant figures."""
    hists = read_histograms(run_dir).get("phases")
    if not isinstance(hists, dict):
        raise HarnessError(f"{run_dir}/histograms.json: corrupt (no phases)")
    phases: dict[str, PhaseData] = {}
    breakdown: dict[str, PhaseData] = {}
    empty = np.array([], dtype=float)
    for name, h in hists.items():
        ok_us = np.array([], dtype=np.int64)
        if h.get("hdr"):
            hist = _decode(h["hdr"], f"{run_dir}/histograms.json phases.{name}.hdr")
            buckets = [
                (
                    hist.get_highest_equivalent_value(b.value_iterated_to),
                    b.count_at_value_iterated_to,
                )
                for b in hist.get_recorded_iterator()
            ]
            if buckets:  # ascending values; one array element per sample, built by numpy
                values, counts = (np.array(c, dtype=np.int64) for c in zip(*buckets, strict=True))
                ok_us = np.repeat(values, counts)
        errors = Counter({str(k): int(v) for k, v in h.get("errors", {}).items()})
        into = breakdown if split_labelled(name) else phases
        into[name] = PhaseData(ok_us, empty, empty, np.array([], dtype=object), errors)
    t0 = run_epoch(run) or 0.0
    data = RunData(run_dir, run, phases, t0, None, None, "merged histograms")
    data.breakdown = breakdown
    return data
