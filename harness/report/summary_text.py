"""The end-of-run console summary, from run.json's body (the harness's own histograms)."""

from __future__ import annotations

from typing import Any


def _ms(value: float | None) -> str:
    return f"{value:9.1f}" if value is not None else "        -"


def summary_text(run: dict[str, Any]) -> str:
    phases, health = run["phases"], run["health"]
    a = run["accounting"]["total"]
    lines = ["", "harness: per-phase times (ms, nearest rank on the harness's own µs histograms)"]
    head = ("count", "errors", "p50", "p90", "p95", "p99", "max")
    lines.append(
        f"  {'phase':<14}" + "".join(f"{h:>{8 if i < 2 else 9}}" for i, h in enumerate(head))
    )
    for phase, r in phases.items():
        lines.append(
            f"  {phase:<14}{r['count']:>8}{r['errors']:>8}{_ms(r['p50_ms'])}{_ms(r['p90_ms'])}"
            f"{_ms(r['p95_ms'])}{_ms(r['p99_ms'])}{_ms(r['max_ms'])}"
        )
    failed = ", ".join(f"{k} {v}" for k, v in a["failed"].items()) or "none"
    lines.append(
        f"harness: lifecycles started {a['started']} = completed {a['completed']} + failed "
        f"{a['failed_total']} ({failed}) + interrupted {a['interrupted']}"
        + (f" + lost with their worker {a['lost']}" if a.get("lost") else "")
        + ("" if a["in_flight"] == 0 else f" + UNACCOUNTED {a['in_flight']}")
        + f"; ready {a['ready']}; reconnects {a['reconnects']}"
    )
    if a.get("interrupted_unexplained"):
        lines.append(
            f"harness: {a['interrupted_unexplained']} lifecycles were cut off with no stop to "
            "explain it: the run is invalid"
        )
    violations = a.get("protocol_violations") or {}
    if violations:
        listed = ", ".join(f"{k} {v}" for k, v in violations.items())
        lines.append(
            f"harness: the platform broke the protocol without failing a lifecycle: {listed}"
        )
    ours = a.get("harness_errors") or {}
    if ours:
        listed = ", ".join(f"{k} x{v}" for k, v in ours.items())
        lines.append(f"harness: HARNESS ERRORS (bugs of ours; lifecycles failed): {listed}")
    if run.get("status") == "stopped":
        lines.append(
            f"harness: the run was STOPPED after {run.get('actual_s')} s of its planned "
            f"{run.get('planned_s')} s ({run.get('stop_reason') or 'before its planned end'})"
        )
    for lost in run.get("workers_lost", []):
        lines.append(
            f"harness: worker {lost['worker']} was LOST (noticed {lost['noticed_at']}; last "
            f"report {lost['last_report_at']}): the figures are partial"
        )
    if health["valid"]:
        lines.append(
            f"harness: health ok (event-loop lag p99 {health['loop_lag_p99_ms']} ms <= "
            f"{health['loop_lag_tolerance_ms']:g} ms; CPU max {health['cpu_max_pct']} %)"
        )
    else:
        lines.append("harness: RUN INVALID, the harness itself was the bottleneck:")
        lines += [f"  - {r}" for r in health["reasons"]]
    return "\n".join(lines)  # where the results are is said last, after Locust's tables
