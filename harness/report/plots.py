"""The report's figures, as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from harness.analysis.benchmarks import Benchmarks
from harness.analysis.rundata import RunData
from harness.analysis.stats import percentile
from harness.record.schema import phase_order

COLOURS = {"p50": "#2b8a3e", "p95": "#e67700", "p99": "#c92a2a"}


def png_bytes(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def bucket_seconds(data: RunData) -> float:
    ends = [d.ok_start.max() for d in data.phases.values() if len(d.ok_start)]
    span = (max(ends) - data.t0) if ends else 1.0
    return float(max(1, round(span / 60)))


def _percentile_lines(ax: Any, sorted_values: np.ndarray) -> None:
    """p50, p95, p99 as vertical lines, by the report's one percentile method."""
    for stat in ("p50", "p95", "p99"):
        ax.axvline(
            percentile(sorted_values, float(stat[1:])), color=COLOURS[stat], lw=1.2, label=stat
        )


def distributions(data: RunData, bench: Benchmarks) -> bytes:
    phases = sorted((p for p, d in data.phases.items() if d.count), key=phase_order)
    fig, axes = plt.subplots(len(phases), 1, figsize=(9, 1.9 * len(phases) + 0.4), squeeze=False)
    for ax, phase in zip(axes[:, 0], phases, strict=True):
        ms = data.phases[phase].ok_us / 1000
        low, high = float(np.percentile(ms, 0.1)), float(np.percentile(ms, 99.9))
        spec = bench.phases.get(phase)
        if spec and spec.documented:
            lo, hi = spec.documented
            ax.axvspan(
                lo, max(hi, lo * 1.01), color="#74c0fc", alpha=0.35, label="documented range"
            )
            low, high = min(low, lo), max(high, hi)
        pad = (high - low) * 0.05 or 1
        ax.hist(ms, bins=80, range=(max(0, low - pad), high + pad), color="#495057")
        _percentile_lines(ax, ms)
        ax.set_title(f"{phase} ({len(ms)} samples)", fontsize=9, loc="left")
        ax.set_xlabel("ms", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return png_bytes(fig)


def _series(
    starts: np.ndarray, values: np.ndarray, t0: float, step: float
) -> dict[str, np.ndarray]:
    """Per time bucket: p50/p95/p99 of `values` (ms) and counts."""
    if not len(starts):
        return {}
    bucket = ((starts - t0) // step).astype(int)
    order = np.lexsort((values, bucket))
    bucket, values = bucket[order], values[order]
    edges = np.flatnonzero(np.diff(bucket)) + 1
    groups = np.split(values, edges)
    keys = bucket[np.concatenate(([0], edges))]
    out = {"t": keys * step, "count": np.array([len(g) for g in groups])}
    for stat in ("p50", "p95", "p99"):
        out[stat] = np.array([percentile(g, float(stat[1:])) for g in groups])
    return out


def over_time(data: RunData, users: list[list[float]]) -> bytes | None:
    phases = [
        p
        for p in (
            "ready",
            "platform_init",
            "chat_first",
            "chat_gap",
            "chat_complete",
            "heartbeat",
            "reconnect",
        )
        if p in data.phases and len(data.phases[p].ok_start)
    ]
    if not phases:
        return None
    step = bucket_seconds(data)
    rate_panel = "ready" in data.phases or bool(users)
    rows = len(phases) + rate_panel
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.0 * rows), sharex=True, squeeze=False)
    for ax, phase in zip(axes[:, 0], phases, strict=False):
        d = data.phases[phase]
        s = _series(d.ok_start, d.ok_us / 1000, data.t0, step)
        for stat in ("p50", "p95", "p99"):
            ax.plot(s["t"], s[stat], color=COLOURS[stat], label=stat, lw=1.2, marker="o", ms=2)
        ax.set_ylabel("ms", fontsize=8)
        ax.set_title(f"{phase} over time ({step:g} s buckets)", fontsize=9, loc="left")
        ax.legend(fontsize=7, loc="upper right")
        ax.tick_params(labelsize=7)
    ax = axes[-1, 0]
    if rate_panel:
        _rate_panel(ax, data, users, step)
    ax.set_xlabel("seconds since the run started", fontsize=8)
    fig.tight_layout()
    return png_bytes(fig)


def _rate_panel(ax: Any, data: RunData, users: list[list[float]], step: float) -> None:
    """Lifecycles reaching ready per second, with active users on a second axis."""
    if "ready" in data.phases:
        d = data.phases["ready"]
        s = _series(d.ok_start, d.ok_us, data.t0, step)
        if s:
            ax.bar(
                s["t"],
                s["count"] / step,
                width=step * 0.9,
                color="#adb5bd",
                label="lifecycles ready / s",
            )
            ax.legend(fontsize=7, loc="upper left")
    if users:
        ax2 = ax.twinx()
        t = np.array([u[0] for u in users]) - data.t0
        ax2.plot(t, [u[1] for u in users], color="#1864ab", lw=1.4, label="active users")
        ax2.set_ylabel("users", fontsize=8)
        ax2.legend(fontsize=7, loc="upper right")
        ax2.tick_params(labelsize=7)
    ax.set_ylabel("per s", fontsize=8)
    ax.tick_params(labelsize=7)


def reconnects(data: RunData) -> bytes | None:
    """The reconnect picture: how long recovery took, and when sessions came back (the peak)."""
    d = data.phases.get("reconnect")
    if d is None or not d.count:
        return None
    recovery_s = d.ok_us / 1e6
    back = d.ok_start + recovery_s - data.t0  # when each session was ready again
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 2.8))
    left.hist(recovery_s, bins=40, color="#495057")
    _percentile_lines(left, recovery_s)
    left.set_title(f"recovery time of {len(recovery_s)} reconnects", fontsize=9, loc="left")
    left.set_xlabel("s from the drop to ready again", fontsize=8)
    left.legend(fontsize=7)
    seconds = np.floor(back).astype(int)
    counts = np.bincount(seconds - seconds.min())
    right.bar(np.arange(len(counts)) + seconds.min(), counts, width=0.9, color="#4dabf7")
    right.set_title(f"sessions back per second (peak {counts.max()})", fontsize=9, loc="left")
    right.set_xlabel("seconds since the run started", fontsize=8)
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return png_bytes(fig)


def replies(data: RunData) -> bytes | None:
    """Streamed replies: chunks per reply, and how fast each stream ran after its first
    chunk (characters per second)."""
    if not len(data.reply_chunks):
        return None
    rates = np.sort(data.reply_rates[~np.isnan(data.reply_rates)])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 2.6))
    chunks, counts = np.unique(data.reply_chunks.astype(int), return_counts=True)
    left.bar(chunks, counts, width=0.8, color="#495057")
    left.set_xticks(chunks if len(chunks) <= 12 else chunks[:: len(chunks) // 12 + 1])
    left.set_xlim(chunks[0] - 1.5, chunks[-1] + 1.5)
    left.set_title(f"chunks per reply ({counts.sum()} replies)", fontsize=9, loc="left")
    left.set_xlabel("chunks", fontsize=8)
    if len(rates):
        right.hist(rates, bins=40, color="#4dabf7")
        _percentile_lines(right, rates)
        right.legend(fontsize=7)
    right.set_title("stream rate after the first chunk", fontsize=9, loc="left")
    right.set_xlabel("characters per second", fontsize=8)
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return png_bytes(fig)


def errors_over_time(data: RunData) -> bytes | None:
    """Failed phases per time bucket, stacked by error class."""
    failed = [d for d in data.phases.values() if len(d.error_start)]
    if not failed:
        return None
    step = bucket_seconds(data)
    starts = np.concatenate([d.error_start for d in failed])
    classes = np.concatenate([d.error_class for d in failed])
    buckets = ((starts - data.t0) // step).astype(int).clip(min=0)
    x = np.arange(buckets.max() + 1) * step
    bottom = np.zeros(len(x))
    fig, ax = plt.subplots(figsize=(9, 2.6))
    for error_class in sorted(set(classes.tolist())):
        counts = np.bincount(buckets[classes == error_class], minlength=len(x)).astype(float)
        ax.bar(x, counts, width=step * 0.9, bottom=bottom, label=error_class)
        bottom += counts
    ax.set_title("failed phases by error class", fontsize=9, loc="left")
    ax.set_xlabel("seconds since the run started", fontsize=8)
    ax.set_ylabel(f"per {step:g} s", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return png_bytes(fig)


def funnel(lifecycles: dict[str, Any]) -> bytes:
    stages = [
        ("started", lifecycles.get("started")),
        ("connected", lifecycles.get("connected")),
        ("ready", lifecycles.get("ready")),
        ("chatted", lifecycles.get("chatted")),
        ("completed", lifecycles.get("completed")),
    ]
    known = [(name, int(value)) for name, value in stages if value is not None]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(known) + 0.6))
    names = [name for name, _ in known][::-1]
    values = [value for _, value in known][::-1]
    ax.barh(names, values, color="#4dabf7")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v}", va="center", fontsize=8)
    ax.set_title("lifecycle funnel", fontsize=9, loc="left")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return png_bytes(fig)


def health(processes: dict[str, Any], t0: float) -> bytes | None:
    if not any(p.get("cpu_timeline") for p in processes.values()):
        return None
    fig, ax = plt.subplots(figsize=(9, 2.4))
    for name, p in sorted(processes.items()):
        timeline = p.get("cpu_timeline") or []
        if timeline:
            ax.plot(
                [t - t0 for t, _ in timeline],
                [c for _, c in timeline],
                lw=1.2,
                label=f"{name[:24]} (loop lag p99 {p.get('loop_lag_p99_ms')} ms)",
            )
    ax.axhline(100, color="#c92a2a", lw=0.8, ls="--")
    ax.set_title("harness CPU per process (% of one core)", fontsize=9, loc="left")
    ax.set_xlabel("seconds since the run started", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    return png_bytes(fig)
