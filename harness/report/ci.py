"""CI outputs from a summary: JUnit XML (one test case per check) and a Markdown summary."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def junit_xml(summary: dict[str, Any]) -> str:
    checks = summary["checks"]
    budgets = summary["error_budgets"]
    failures = sum(c.get("point") == "fail" for c in checks) + sum(
        b["status"] == "fail" for b in budgets
    )
    skipped = sum(c["status"] == "insufficient" for c in checks)
    suite = ET.Element(
        "testsuite",
        name=f"miptech-benchmarks {summary['run_id']}",
        tests=str(len(checks) + len(budgets)),
        failures=str(failures),
        skipped=str(skipped),
    )
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"phase.{c['phase']}", name=c["check"])
        measured = f"{c['stat']} = {_ms(c['value_ms'])} ms"
        if c.get("interval_ms"):
            low, high = c["interval_ms"]
            measured += f" (interval {low:.1f}-{high:.1f} ms)"
        if c["status"] == "insufficient":
            ET.SubElement(
                case, "skipped", message=f"needs {c['samples_needed']} samples, got {c['samples']}"
            )
        elif c.get("point") == "fail":
            ET.SubElement(case, "failure", message=f"{measured}, limit {c['limit_ms']:g} ms")
        ET.SubElement(
            case, "system-out"
        ).text = f"{measured}; status {c['status']}; {c['samples']} samples"
    for b in budgets:
        case = ET.SubElement(
            suite, "testcase", classname="errors", name=f"{b['error_class']} {budget_text(b)}"
        )
        if b["status"] == "fail":
            ET.SubElement(
                case, "failure", message=f"{b['count']} lifecycles = {100 * b['rate']:.2f}%"
            )
    return junit_document(
        suite, summary["reasons"] if summary["verdict"] == "invalid" else [], "run"
    )


def budget_text(b: dict[str, Any]) -> str:
    """`rate < 1%`, or that the class has no budget in the table."""
    if b.get("limit_rate") is None:
        return "(no budget)"
    return f"rate {b.get('op') or '<'} {100 * b['limit_rate']:g}%"


def junit_document(suite: ET.Element, invalid_reasons: list[str], what: str) -> str:
    """The suite as a JUnit file; an invalid run or night is one more case, in error."""
    if invalid_reasons:
        case = ET.SubElement(suite, "testcase", classname=what, name=f"{what} is valid")
        ET.SubElement(case, "error", message="; ".join(invalid_reasons))
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def partial_lines(summary: dict[str, Any]) -> list[str]:
    """What the banner says of a run with lost workers, or broken protocol rules."""
    lines = [
        f"PARTIAL: worker {w['worker']} was lost (noticed {w['noticed_at']}; its figures up "
        f"to its last report at {w['last_report_at']} are included)"
        for w in summary.get("lost_workers") or []
    ]
    violations = summary.get("protocol_violations") or {}
    if violations:
        lines.append(
            "the platform broke the protocol without failing a lifecycle: "
            + ", ".join(f"{k} {v}" for k, v in violations.items())
        )
    return lines


def markdown(summary: dict[str, Any]) -> str:
    icon = {
        "pass": "✅",
        "fail": "❌",
        "borderline": "⚠️",
        "insufficient": "❔",
        "unbudgeted": "·",
    }
    lines = [
        f"## MIPTech benchmark run `{summary['run_id']}`: **{summary['verdict'].upper()}**",
        "",
    ]
    lines += [f"- {r}" for r in summary["reasons"]]
    lines += [f"- {line}" for line in partial_lines(summary)]
    lines += ["", "| phase | check | measured | interval | status |", "|---|---|---|---|---|"]
    for c in summary["checks"]:
        interval = (
            "-"
            if not c.get("interval_ms")
            else f"{c['interval_ms'][0]:.1f} to {c['interval_ms'][1]:.1f}"
        )
        lines.append(
            f"| {c['phase']} | `{c['check']}` | {_ms(c['value_ms'])} ms | {interval} | "
            f"{icon.get(c['status'], '')} {c['status']} |"
        )
    for b in summary["error_budgets"]:
        lines.append(
            f"| errors | `{b['error_class']} {budget_text(b)}` | "
            f"{100 * b['rate']:.2f}% ({b['count']}) | - | {icon[b['status']]} {b['status']} |"
        )
    lc = summary["lifecycles"]
    h = summary["health"]
    lines += [
        "",
        f"Lifecycles: started {lc['started']}, ready {lc['ready']}, completed {lc['completed']}, "
        f"failed {sum((lc['failed'] or {}).values())}, interrupted {lc['interrupted']}"
        + (f", lost with their worker {lc['lost']}" if lc.get("lost") else "")
        + ". "
        f"Harness health: {'valid' if h['valid'] else 'INVALID'} (loop lag p99 "
        f"{h['loop_lag_p99_ms']} ms, CPU max {h['cpu_max_pct']} %).",
        *_replies_lines(summary.get("replies")),
        "",
    ]
    return "\n".join(lines)


def _replies_lines(replies: dict[str, Any] | None) -> list[str]:
    """One line on the streamed replies, when there were any."""
    if not replies or not replies.get("count"):
        return []
    chunks, rate = replies["chunks"], replies["chars_per_s"]
    return [
        "",
        f"Replies: {replies['count']}, chunks per reply p50 {chunks['p50']} (max "
        f"{chunks['p100']}); stream rate after the first chunk p50 {rate['p50']} chars/s, "
        f"slowest 5 % under {rate['p5']}.",
    ]
