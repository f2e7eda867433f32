"""From a run's data and the benchmark table to `summary.json`: figures, checks, verdict."""

from __future__ import annotations

from typing import Any

from harness.analysis.benchmarks import Benchmarks, Check
from harness.analysis.rundata import RunData
from harness.analysis.stats import samples_needed, stat_percent, statistic
from harness.load.results import phase_order
from harness.load.rundir import SCHEMA_VERSION

TABLE_STATS = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
METHOD = (
    "nearest rank: the p-th percentile of n samples is the value at rank ceil(p/100*n); "
    "intervals are distribution-free (binomial order statistics, normal approximation)"
)


def _key(stat: str) -> str:
    return f"{stat.replace('.', '_')}_ms"


def phase_table(data: RunData, confidence: float) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for phase in sorted(data.phases, key=phase_order):
        d = data.phases[phase]
        row: dict[str, Any] = {
            "count": d.count,
            "errors": sum(d.errors.values()),
            "errors_by_class": dict(sorted(d.errors.items())),
        }
        for stat in TABLE_STATS:
            row[_key(stat)] = (
                round(statistic(d.ok_us, stat, confidence).value_ms, 3) if d.count else None
            )
        table[phase] = row
    return table


def evaluate(check: Check, data: RunData, confidence: float) -> dict[str, Any]:
    d = data.phases.get(check.phase)
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
    lifecycles = data.run.get("accounting", {}).get("total", {})
    started = max(int(lifecycles.get("started", 0)), 1)
    failed: dict[str, int] = lifecycles.get("failed", {})
    classes = set(failed) | {c for c in bench.budgets if c != "*"}
    rows = []
    for error_class in sorted(classes):
        budget = bench.budget_for(error_class)
        if budget is None:
            continue
        rate = failed.get(error_class, 0) / started
        rows.append(
            {
                "error_class": error_class,
                "count": failed.get(error_class, 0),
                "rate": round(rate, 6),
                "limit_rate": budget.rate,
                "status": "pass" if budget.passes(rate) else "fail",
            }
        )
    return rows


def summarise(data: RunData, bench: Benchmarks) -> dict[str, Any]:
    run = data.run
    checks = [evaluate(c, data, bench.confidence) for c in bench.checks]
    error_budgets = budgets(data, bench)
    health = run.get("health", {})
    reasons = list(health.get("reasons", [])) if health.get("valid") is False else []
    if not health:
        reasons.append("the run recorded no harness health figures")
    for c in checks:
        if c["status"] == "insufficient":
            reasons.append(
                f"too few samples for {c['phase']} {c['stat']}: needs at least "
                f"{c['samples_needed']}, got {c['samples']}"
            )
    acct = run.get("accounting", {}).get("total", {})
    if acct and acct.get("in_flight", 0) != 0:
        reasons.append(f"{acct['in_flight']} lifecycles are unaccounted for")
    failing = [c for c in checks if c.get("point") == "fail"] + [
        b for b in error_budgets if b["status"] == "fail"
    ]
    verdict = "invalid" if reasons else ("fail" if failing else "pass")
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.get("run_id"),
        "verdict": verdict,
        "reasons": reasons,
        "phases": phase_table(data, bench.confidence),
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
            "reconnects": acct.get("reconnects"),
        },
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


EXIT_CODES = {"pass": 0, "fail": 1, "invalid": 2}
