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


# -- the checks, live and at the end ----------------------------------------------------------


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _status(row: dict[str, Any]) -> str:
    status = row["status"]
    if status == "insufficient":
        return f"too few samples ({row['samples']} of {row['samples_needed']})"
    if status == "borderline":
        return f"borderline ({row['point']} at the point estimate)"
    return str(status)


def _rate(budget: dict[str, Any]) -> str:
    limit = budget.get("limit_rate")
    text = f"{100 * budget['rate']:.2f}% ({budget['count']})"
    if limit is not None:
        text += f" {budget['op']} {100 * limit:g}%"
    return text


def checks_table(summary: dict[str, Any]) -> str:
    """The benchmark checks (phase, check, measured, interval, status), then the error
    budgets and the lifecycles: the end of every run and of `harness report`."""
    rows = [("phase", "check", "measured ms", "interval ms", "status")]
    for c in summary["checks"]:
        interval = c.get("interval_ms")
        rows.append(
            (
                c["phase"],
                c["check"],
                _num(c.get("value_ms")),
                f"{interval[0]:.3f} - {interval[1]:.3f}" if interval else "-",
                _status(c),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        ("  " + "  ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=True))).rstrip()
        for r in rows
    ]
    budgets = [b for b in summary["error_budgets"] if b["count"] or b["status"] != "pass"]
    if budgets:
        lines.append(
            "  errors: "
            + "; ".join(f"{b['error_class']} {_rate(b)} {b['status']}" for b in budgets)
        )
    else:
        lines.append("  errors: none")
    life = summary["lifecycles"]
    failed = life.get("failed") or {}
    lines.append(
        f"  lifecycles: started {life['started']}, ready {life['ready']}, completed "
        f"{life['completed']}, failed {sum(failed.values())}"
        + (f" ({', '.join(f'{k} {v}' for k, v in failed.items())})" if failed else "")
        + f", interrupted {life['interrupted']}"
        + (f", lost {life['lost']}" if life.get("lost") else "")
        + f", reconnects {life['reconnects']}"
    )
    return "\n".join(lines)


def live_block(live: dict[str, Any]) -> str:
    """The console's block every few seconds: progress, each check against its limit,
    error rates, harness health."""
    elapsed, planned = live["elapsed_s"], live.get("planned_s")
    progress = f"{elapsed:.0f}/{planned:.0f} s" if planned else f"{elapsed:.0f} s"
    health = live["health"]
    head = (
        f"harness live {progress}: {live['users']} users, {live['lifecycles_per_s'] or 0:g} "
        f"lifecycles/s; verdict if it ended now: {str(live['verdict_if_ended_now']).upper()}"
    )
    checks = [
        f"{c['phase']} {c['stat']} "
        + (
            f"{c['value_ms']:.3f} ms {c['check'].split(' ', 1)[1]} {c['status']}"
            if c.get("value_ms") is not None
            else f"- ({c['samples']} of {c['samples_needed']} samples)"
        )
        for c in live["checks"]
    ]
    failed = [b for b in live["error_budgets"] if b["count"]]
    lag = health.get("loop_lag_p99_ms")
    lines = [
        head,
        "  " + " | ".join(checks),
        "  errors: " + ("; ".join(f"{b['error_class']} {_rate(b)}" for b in failed) or "none"),
        f"  health: {'valid' if health['valid'] else 'INVALID'} (loop lag p99 "
        f"{'-' if lag is None else f'{lag:.1f}'} ms <= {health.get('loop_lag_tolerance_ms')} ms; "
        f"CPU max {health.get('cpu_max_pct')} %"
        + (f"; lost workers {', '.join(health['lost_workers'])}" if health["lost_workers"] else "")
        + ")",
    ]
    return "\n".join(lines)


def live_rows(live: dict[str, Any]) -> list[dict[str, Any]]:
    """The Benchmarks tab's rows: the verdict so far, each check, each phase, the
    lifecycles, each process's health (the columns live.TAB_COLUMNS names)."""
    health = live["health"]
    rows: list[dict[str, Any]] = [
        {
            "section": "run",
            "name": f"{live['elapsed_s']:.0f} of {live.get('planned_s') or '-'} s, "
            f"{live['users']} users",
            "value": f"{live['lifecycles_per_s'] or 0:g} lifecycles/s",
            "status": f"{str(live['verdict_if_ended_now']).upper()} if it ended now; "
            + ("valid" if health["valid"] else "INVALID: " + "; ".join(health["reasons"])),
        }
    ]
    for c in live["checks"]:
        rows.append(
            {
                "section": "check",
                "name": f"{c['phase']} {c['check']}",
                "value": _num(c.get("value_ms")),
                "limit": f"{c['limit_ms']:g}",
                "status": _status(c),
                "count": c["samples"],
            }
        )
    for b in live["error_budgets"]:
        rows.append(
            {
                "section": "errors",
                "name": b["error_class"],
                "value": f"{100 * b['rate']:.2f}%",
                "limit": "-" if b.get("limit_rate") is None else f"{100 * b['limit_rate']:g}%",
                "status": b["status"],
                "count": b["count"],
            }
        )
    for name, p in {**live["phases"], **live["breakdown"]}.items():
        rows.append(
            {
                "section": "phase",
                "name": name,
                "count": p["count"],
                "errors": p["errors"],
                **{k: _num(p[f"{k}_ms"]) for k in ("p50", "p90", "p95", "p99", "max")},
            }
        )
    life = live["lifecycles"]
    for key in ("started", "ready", "completed", "interrupted", "lost", "in_flight", "reconnects"):
        rows.append({"section": "lifecycles", "name": key, "value": life[key]})
    for error_class, n in sorted(life["failed"].items()):
        rows.append({"section": "lifecycles", "name": f"failed {error_class}", "value": n})
    for worker, h in health["processes"].items():
        lag = h.get("loop_lag_p99_ms")
        rows.append(
            {
                "section": "health",
                "name": worker,
                "value": f"loop lag p99 {'-' if lag is None else f'{lag:.2f}'} ms, CPU "
                f"{h.get('cpu_max_pct')} %",
                "limit": f"{health.get('loop_lag_tolerance_ms')} ms",
                "status": "lagging"
                if lag is not None and lag > (health.get("loop_lag_tolerance_ms") or 0)
                else "ok",
            }
        )
    for worker in health["lost_workers"]:
        rows.append({"section": "health", "name": worker, "value": "lost", "status": "lost"})
    return rows
