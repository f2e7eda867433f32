"""The night's page (comparison table, trials, link to the trends) and the trends page."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from harness.analysis.benchmarks import Benchmarks
from harness.nightly.changepoint import change_points
from harness.nightly.compare import STATS, geomean
from harness.report.plots import COLOURS, plt, png_bytes

TEMPLATES = Path(__file__).resolve().parents[1] / "report"


def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True)
    )


def night_page(night: dict[str, Any], trends_href: str) -> str:
    banner = {"no regression": "pass", "regression": "fail"}.get(night["verdict"], "invalid")
    return (
        _env().get_template("night.html.j2").render(n=night, banner=banner, trends_href=trends_href)
    )


def trends_page(
    nights: list[dict[str, Any]], baseline: dict[str, Any] | None, bench: Benchmarks
) -> str:
    figures, changes = [], []
    phases = sorted({p for n in nights for p in n.get("phases", {})})
    for phase in phases:
        fig, ax = plt.subplots(figsize=(9, 2.8))
        x = list(range(len(nights)))
        for stat in STATS:
            series = [n.get("phases", {}).get(phase, {}).get(stat) for n in nights]
            points = [(i, v) for i, v in zip(x, series, strict=True) if v]
            if not points:
                continue
            ax.plot(
                [i for i, _ in points],
                [v for _, v in points],
                marker="o",
                ms=3,
                color=COLOURS[stat],
                label=stat,
            )
            base = (baseline or {}).get("trials", {}).get(phase, {}).get(stat)
            if base:
                level = geomean(base)  # as the nights are drawn
                ax.axhline(level, color=COLOURS[stat], ls="--", lw=0.8)
            for k in change_points([v for _, v in points]):
                night_index = points[k][0]
                ax.axvline(night_index - 0.5, color=COLOURS[stat], lw=1.5, alpha=0.6)
                changes.append(
                    f"{phase} {stat}: a new level from night {nights[night_index]['night_id']}"
                )
        spec = bench.phases.get(phase)
        for check in spec.checks if spec else ():
            if check.stat in STATS:
                ax.axhline(
                    check.limit_ms, color="#c92a2a", ls=":", lw=1, label=f"limit {check.text}"
                )
        ax.set_xticks(x, [n["night_id"][:15] for n in nights], rotation=30, fontsize=6, ha="right")
        ax.set_ylabel("ms", fontsize=8)
        ax.set_title(phase, fontsize=9, loc="left")
        ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        figures.append((phase, base64.b64encode(png_bytes(fig)).decode()))
    return (
        _env()
        .get_template("trends.html.j2")
        .render(nights=len(nights), figures=figures, changes=changes)
    )
