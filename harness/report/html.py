"""report.html: one self-contained page (figures embedded as data URIs, no network needed)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from harness.report.ci import budget_text, partial_lines


def render(
    summary: dict[str, Any],
    run: dict[str, Any],
    figures: list[tuple[str, str, bytes]],
    documented: dict[str, str],
    locust_html: str | None,
) -> str:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(default=True)
    )
    template = env.get_template("report.html.j2")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    failing = sum(c.get("point") == "fail" for c in summary["checks"]) + sum(
        b["status"] == "fail" for b in summary["error_budgets"]
    )
    return template.render(
        s=summary,
        run=run,
        target=run.get("target", "-"),
        ms=ms,
        failing=failing,
        failed_total=sum((summary["lifecycles"].get("failed") or {}).values()),
        documented=documented,
        locust_html=locust_html,
        budget_text=budget_text,
        partial=partial_lines(summary),
        figures=[
            {"title": t, "note": n, "data": base64.b64encode(png).decode()} for t, n, png in figures
        ],
    )
