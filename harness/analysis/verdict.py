"""From a run's data and the benchmark table to `summary.json`: figures, checks, verdict."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis.benchmarks import Benchmarks, Check
from harness.analysis.rundata import PhaseData, RunData
from harness.analysis.stats import percentile, samples_needed, stat_percent, statistic
from harness.record.results import MAX_LABELS, NEGATIVE_DURATION
from harness.record.schema import PERCENTILE_RULE, SUMMARY_JSON, phase_order, split_labelled

TABLE_STATS = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
METHOD = (
    PERCENTILE_RULE
    + "; intervals are distribution-free (binomial order statistics, normal approximation)"
)


def _key(stat: str) -> str:
    return f"{stat.replace('.', '_')}_ms"


def phase_table(
    data: RunData, confidence: float, series: dict[str, PhaseData] | None = None
) -> dict[str, dict[str, Any]]:
    """Per phase (or each of `series`, e.g. the breakdown by step and tenant): counts,
    errors and the table's statistics."""
    series = data.phases if series is None else series
    table: dict[str, dict[str, Any]] = {}
    for phase in sorted(series, key=phase_order):
        d = series[phase]
        row: dict[str, Any] = {
            "count": d.count,
            "errors": sum(d.errors.values()),
            "errors_by_class": dict(sorted(d.errors.items())),
        }
        for stat in TABLE_STATS:
            row[_key(stat)] = (
                round(statistic(d.ok_us, stat, confidence, bounds=False).value_ms, 3)
                if d.count
                else None
            )
        table[phase] = row
    return table


def evaluate(check: Check, data: RunData, confidence: float) -> dict[str, Any]:
    d = data.series(check.phase)
    n = d.count if d else 0
    needed = samples_needed(stat_percent(check.stat)) if check.stat != "mean" else 2
    result: dict[str, Any] = {
        "phase": check.phase,
        "stat": check.stat,
        "check": check.text,
        "limit_ms": check.limit_ms,
        "samples": n,
        "samples_needed": needed,
    }
    if d is None or n < needed:
        return {**result, "value_ms": None, "status": "insufficient"}
    s = statistic(d.ok_us, check.stat, confidence)
    point = "pass" if check.passes(s.value_ms) else "fail"
    interval = None
    status = point
    if s.low_ms is not None and s.high_ms is not None:
        interval = [round(s.low_ms, 3), round(s.high_ms, 3)]
        if check.passes(s.low_ms) != check.passes(s.high_ms):
            status = "borderline"  # the interval straddles the limit
    return {
        **result,
        "value_ms": round(s.value_ms, 3),
        "interval_ms": interval,
        "point": point,
        "status": status,
    }


def budgets(data: RunData, bench: Benchmarks) -> list[dict[str, Any]]:
    """One row for every error class that has a budget or failed a lifecycle: no class goes
    unseen (one with no budget in the table is shown as `unbudgeted`)."""
    lifecycles = data.run.get("accounting", {}).get("total", {})
    started = max(int(lifecycles.get("started", 0)), 1)
    failed: dict[str, int] = lifecycles.get("failed", {})
    classes = set(failed) | {c for c in bench.budgets if c != "*"}
    rows = []
    for error_class in sorted(classes):
        budget = bench.budget_for(error_class)
        count = failed.get(error_class, 0)
        rate = count / started
        rows.append(
            {
                "error_class": error_class,
                "count": count,
                "rate": round(rate, 6),
                "limit_rate": None if budget is None else budget.rate,
                "op": None if budget is None else budget.op,
                "status": "unbudgeted"
                if budget is None
                else ("pass" if budget.passes(rate) else "fail"),
            }
        )
    return rows


def _untrusted(data: RunData) -> list[str]:
    """Why no figure of this run can be trusted: the verdict is invalid whatever they say."""
    run = data.run
    health = run.get("health", {})
    reasons = list(health.get("reasons", [])) if health.get("valid") is False else []
    status = run.get("status")
    if status in ("starting", "running"):
        reasons.append(
            f"the run did not finish (run.json says {status!r}): its coordinator was killed, "
            "or could not write its final record"
        )
    elif not health:
        reasons.append("the run recorded no harness health figures")
    acct = run.get("accounting", {}).get("total", {})
    if acct and acct.get("in_flight", 0) != 0:
        reasons.append(f"{acct['in_flight']} lifecycles are unaccounted for")
    if acct.get("interrupted_unexplained"):
        reasons.append(
            f"{acct['interrupted_unexplained']} lifecycles were cut off with no stop to "
            f"explain it ({acct['interrupted']} interrupted, at most "
            f"{acct['interrupted_explained']} explained by stopped users)"
        )
    backwards = (acct.get("harness_errors") or {}).get(NEGATIVE_DURATION)
    if backwards:
        reasons.append(
            f"{backwards} phase samples ended before they began: a clock went backwards "
            "during the run, so its timings cannot be trusted"
        )
    reasons += data.missing
    return reasons


def _incomplete(data: RunData, checks: list[dict[str, Any]]) -> list[str]:
    """Why a PASS cannot be given, though a FAIL still can: too few samples, a stopped run."""
    reasons = [
        f"too few samples for {c['phase']} {c['stat']}: needs at least "
        f"{c['samples_needed']}, got {c['samples']}"
        for c in checks
        if c["status"] == "insufficient"
    ]
    run = data.run
    dropped = run.get("accounting", {}).get("total", {}).get("labels_dropped") or {}
    for kind, n in sorted(dropped.items()):
        if any((split_labelled(c["phase"]) or ("", "", ""))[1] == kind for c in checks):
            reasons.append(
                f"{n} samples were counted without their {kind} (a process had more than "
                f"{MAX_LABELS} {kind} names): the checks by {kind} see only part of the run"
            )
    if run.get("status") == "stopped":
        reasons.append(
            f"the run was stopped after {run.get('actual_s')} s of its planned "
            f"{run.get('planned_s')} s ({run.get('stop_reason') or 'before its planned end'})"
        )
    return reasons


def summarise(data: RunData, bench: Benchmarks) -> dict[str, Any]:
    """The verdict: invalid when the figures cannot be trusted; else fail when any check or
    error budget fails (even with too few samples elsewhere: a platform that is down fails
    its connection budget); else invalid when a pass would rest on too little; else pass."""
    run = data.run
    checks = [evaluate(c, data, bench.confidence) for c in bench.checks]
    error_budgets = budgets(data, bench)
    health = run.get("health", {})
    failing = [c for c in checks if c.get("point") == "fail"] + [
        b for b in error_budgets if b["status"] == "fail"
    ]
    untrusted = _untrusted(data)
    incomplete = _incomplete(data, checks)
    if untrusted:
        verdict, reasons = "invalid", untrusted + incomplete
    elif failing:
        verdict, reasons = "fail", incomplete
    elif incomplete:
        verdict, reasons = "invalid", incomplete
    else:
        verdict, reasons = "pass", []
    acct = run.get("accounting", {}).get("total", {})
    lost = run.get("workers_lost") or []
    return {
        "schema_version": SUMMARY_JSON,
        "run_id": run.get("run_id"),
        "verdict": verdict,
        "reasons": reasons,
        "status": run.get("status"),
        "planned_s": run.get("planned_s"),
        "actual_s": run.get("actual_s"),
        "partial": bool(lost),
        "lost_workers": lost,
        "phases": phase_table(data, bench.confidence),
        "breakdown": phase_table(data, bench.confidence, data.breakdown),
        "checks": checks,
        "error_budgets": error_budgets,
        "lifecycles": {
            "started": acct.get("started"),
            "connected": data.connected,
            "ready": acct.get("ready"),
            "chatted": data.chatted,
            "completed": acct.get("completed"),
            "failed": acct.get("failed", {}),
            "interrupted": acct.get("interrupted"),
            "lost": acct.get("lost", 0),
            "reconnects": acct.get("reconnects"),
        },
        "replies": replies(data),
        "protocol_violations": acct.get("protocol_violations", {}),
        "harness_errors": acct.get("harness_errors", {}),
        "health": {
            "cpu_max_pct": health.get("cpu_max_pct"),
            "loop_lag_p99_ms": health.get("loop_lag_p99_ms"),
            "loop_lag_tolerance_ms": health.get("loop_lag_tolerance_ms"),
            "valid": bool(health.get("valid", False)),
        },
        "analysis": {
            "source": data.source,
            "method": METHOD,
            "confidence": bench.confidence,
            "warmup_s": bench.warmup_s,
            "excluded_warmup_samples": data.excluded_warmup,
            "benchmarks": bench.source,
        },
    }


def replies(data: RunData) -> dict[str, Any]:
    """Completed replies: chunks per reply, and the stream's characters per second after its
    first chunk (nearest rank; p5 is the slow end). Raw samples only."""
    chunks = np.sort(data.reply_chunks)
    rates = np.sort(data.reply_rates[~np.isnan(data.reply_rates)])

    def figures(values: np.ndarray, ps: tuple[float, ...], whole: bool) -> dict[str, Any]:
        def one(p: float) -> float | int:
            value = percentile(values, p)
            return int(value) if whole else round(value, 1)

        return {f"p{p:g}": one(p) if len(values) else None for p in ps}

    return {
        "count": len(chunks),
        "chunks": figures(chunks, (50, 95, 100), whole=True),
        "chars_per_s": figures(rates, (5, 50, 95), whole=False),
    }


EXIT_CODES = {"pass": 0, "fail": 1, "invalid": 2}
