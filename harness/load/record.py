"""The coordinator's record of a run: what goes into run.json and histograms.json, and the
summary printed at the end. The master (or a local runner) owns one `Run`."""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any

from locust.env import Environment

from harness.embedded import EmbeddedPlatform
from harness.load import rundir
from harness.load.lifecycle import RunContext
from harness.load.results import MergedResults


class Run:
    """Master (or local) side of one run."""

    def __init__(self) -> None:
        self.merged = MergedResults()
        self.run_id = ""
        self.run_dir = Path()
        self.platform: EmbeddedPlatform | None = None
        self.platform_args: list[str] = []
        self.target = ""
        self.started_at: str | None = None
        self.meta: dict[str, Any] = {}
        self.finished = False

    def health(self, tolerance: float) -> dict[str, Any]:
        """Every process's health figures, and whether the run is valid."""
        processes = self.merged.health
        reasons = [
            f"process {worker}: event-loop lag p99 {h['loop_lag_p99_ms']:.1f} ms > tolerance "
            f"{tolerance:g} ms"
            for worker, h in sorted(processes.items())
            if h.get("loop_lag_p99_ms") is not None and h["loop_lag_p99_ms"] > tolerance
        ]
        lags = [h["loop_lag_p99_ms"] for h in processes.values() if h.get("loop_lag_p99_ms")]
        cpus = [h["cpu_max_pct"] for h in processes.values() if h.get("cpu_max_pct")]
        return {
            "valid": not reasons,
            "reasons": reasons,
            "loop_lag_tolerance_ms": tolerance,
            "loop_lag_p99_ms": max(lags) if lags else None,
            "cpu_max_pct": max(cpus) if cpus else None,
            "processes": processes,
        }

    def write_run_json(
        self,
        environment: Environment,
        ctx: RunContext,
        status: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        options = environment.parsed_options
        s = ctx.settings
        body: dict[str, Any] = {
            "schema_version": rundir.SCHEMA_VERSION,
            "run_id": self.run_id,
            "status": status,
            "scenario": ctx.scenario.name if ctx.scenario else None,
            "target": self.target,
            "embedded_platform": {"url": self.platform.url, "args": self.platform_args}
            if self.platform
            else None,
            "tls_verify": s.tls_verify,
            "started": self.started_at,
            "ended": None,
            "locust": {
                "users": getattr(options, "num_users", None),
                "spawn_rate": getattr(options, "spawn_rate", None),
                "run_time": getattr(options, "run_time", None),
                "processes": getattr(options, "processes", None),
                "user_classes": [c.__name__ for c in environment.user_classes],
                "html_file": getattr(options, "html_file", None),
            },
            "knobs": ctx.knobs.__dict__,
            "settings": {k: v for k, v in s.__dict__.items() if k != "sources"},
            **self.meta,
        }
        body.update(extra or {})
        rundir.write_json(self.run_dir / "run.json", body)

    def finish(self, environment: Environment, ctx: RunContext) -> None:
        """Write histograms.json and the complete run.json; print the summary."""
        merged = self.merged
        accounting = merged.accounting.as_dict()
        health = self.health(ctx.max_loop_lag_ms)
        phases = merged.phase_table()
        hists = {
            phase: {
                "count": row["count"],
                "errors": row["errors_by_class"],
                "hdr": merged.hists[phase].encode().decode() if phase in merged.hists else None,
            }
            for phase, row in phases.items()
        }
        rundir.write_json(
            self.run_dir / "histograms.json",
            {
                "schema_version": rundir.SCHEMA_VERSION,
                "unit": "microseconds",
                "significant_figures": 3,
                "phases": hists,
            },
        )
        self.write_run_json(
            environment,
            ctx,
            status="complete",
            extra={
                "ended": rundir.now_iso(),
                "accounting": {
                    "total": accounting,
                    "workers": {w: a.as_dict() for w, a in sorted(merged.workers.items())},
                    "identity_holds": accounting["in_flight"] == 0,
                },
                "health": health,
                "phases": phases,
            },
        )
        print(summary_text(accounting, health, phases, self.run_dir), flush=True)
        # Locust prints its own tables after `quitting`; say where the results are, last.
        atexit.register(print, f"harness: results in {self.run_dir}", flush=True)


def summary_text(
    accounting: dict[str, Any], health: dict[str, Any], phases: dict[str, Any], run_dir: Path
) -> str:
    def ms(value: float | None) -> str:
        return f"{value:9.1f}" if value is not None else "        -"

    lines = ["", "harness: per-phase times (ms, from the harness's own µs histograms)"]
    head = ("count", "errors", "p50", "p90", "p95", "p99", "max")
    lines.append(
        f"  {'phase':<14}" + "".join(f"{h:>{8 if i < 2 else 9}}" for i, h in enumerate(head))
    )
    for phase, r in phases.items():
        lines.append(
            f"  {phase:<14}{r['count']:>8}{r['errors']:>8}{ms(r['p50_ms'])}{ms(r['p90_ms'])}"
            f"{ms(r['p95_ms'])}{ms(r['p99_ms'])}{ms(r['max_ms'])}"
        )
    a = accounting
    failed = ", ".join(f"{k} {v}" for k, v in a["failed"].items()) or "none"
    lines.append(
        f"harness: lifecycles started {a['started']} = completed {a['completed']} + failed "
        f"{a['failed_total']} ({failed}) + interrupted {a['interrupted']}"
        + ("" if a["in_flight"] == 0 else f" + UNACCOUNTED {a['in_flight']}")
        + f"; ready {a['ready']}; reconnects {a['reconnects']}"
    )
    if health["valid"]:
        lines.append(
            f"harness: health ok (event-loop lag p99 {health['loop_lag_p99_ms']} ms <= "
            f"{health['loop_lag_tolerance_ms']:g} ms; CPU max {health['cpu_max_pct']} %)"
        )
    else:
        lines.append("harness: RUN INVALID, the harness itself was the bottleneck:")
        lines += [f"  - {r}" for r in health["reasons"]]
    lines.append(f"harness: results in {run_dir} (reports/latest points there)")
    return "\n".join(lines)
