"""`harness report RUN_DIR`: analyse a run and write summary.json, report.html, junit.xml and
summary.md into it. Returns the summary (the verdict decides the exit code) and whether
the files could be written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.analysis.benchmarks import load_benchmarks
from harness.analysis.rundata import load_run
from harness.analysis.verdict import summarise
from harness.record.files import RecordWriteError, write_json
from harness.record.runfile import write_outputs
from harness.redact import mask_data
from harness.report import plots
from harness.report.ci import junit_xml, markdown
from harness.report.html import render


def write_report(
    run_dir: Path,
    benchmarks: Path | None = None,
    warmup_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], bool]:
    """summary.json, report.html, junit.xml and summary.md; `progress` is told how a large
    run's analysis goes (samples read, then drawing)."""
    bench = load_benchmarks(benchmarks)
    if warmup_s is not None:
        bench = replace(bench, warmup_s=warmup_s)
    read = None if progress is None else lambda n: progress(f"read {n:,} samples")
    data = load_run(run_dir, bench.warmup_s, read)
    if progress is not None:
        progress("drawing the report")
    # Masked as data before anything is drawn: run.json was masked when written, but this
    # process may know more secrets (and a hand-made run directory was never masked).
    summary = mask_data(summarise(data, bench))
    run = mask_data(data.run)
    processes = run.get("health", {}).get("processes", {})
    users = _sum_users(processes)
    figures: list[tuple[str, str, bytes]] = []
    if any(d.count for d in data.phases.values()):
        figures.append(
            (
                "Latency distribution per phase",
                "Shaded: the document's expected range.",
                plots.distributions(data, bench),
            )
        )
    for title, note, png in (
        (
            "p50 / p95 / p99 over time",
            "With lifecycles reaching ready per second and active users.",
            plots.over_time(data, users),
        ),
        ("Errors by class over time", "", plots.errors_over_time(data)),
        (
            "Streamed replies",
            "chat_first is the time to the first chunk, chat_gap every gap between two chunks "
            "of a reply; here the chunks of each reply and its stream's rate.",
            plots.replies(data),
        ),
        (
            "Lifecycle funnel",
            "started → connected → ready → chatted → completed",
            plots.funnel(summary["lifecycles"]),
        ),
        (
            "Reconnects",
            "Time from a dropped connection to ready again (the reconnect phase).",
            plots.reconnects(data),
        ),
        (
            "Harness health",
            "CPU of each harness process; lag over the tolerance invalidates a run.",
            plots.health(processes, data.t0),
        ),
    ):
        if png is not None:
            figures.append((title, note, png))
    documented = {
        phase: f"{lo:g}-{hi:g} ms" if lo != hi else f"{lo:g} ms"
        for phase, spec in bench.phases.items()
        if spec.documented
        for lo, hi in [spec.documented]
    }
    locust_html = run.get("locust", {}).get("html_file")
    outputs = {
        "report.html": render(summary, run, figures, documented, locust_html),
        "junit.xml": junit_xml(summary),
        "summary.md": markdown(summary),
    }
    try:
        write_json(run_dir / "summary.json", summary)
        write_outputs(run_dir, outputs)
    except RecordWriteError as exc:  # a read-only run directory: the console gets the report
        print(f"harness report: {exc}; the summary follows instead", flush=True)
        print(outputs["summary.md"], flush=True)
        return summary, False
    return summary, True


def _sum_users(processes: dict[str, Any]) -> list[list[float]]:
    """Active users over time, summed over processes (per whole second)."""
    total: dict[int, float] = {}
    for p in processes.values():
        for t, n in p.get("users_timeline") or []:
            total[int(t)] = total.get(int(t), 0) + n
    return [[float(t), n] for t, n in sorted(total.items())]
