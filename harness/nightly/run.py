"""`harness nightly`: trials of the nightly scenario, each reported, compared with the baseline;
the night's page, JUnit and Markdown, a history entry, and the trends page."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from harness.analysis.benchmarks import load_benchmarks
from harness.errors import HarnessError
from harness.launch import locust_command
from harness.nightly.baseline import baseline_dir, load_baseline
from harness.nightly.compare import Change, compare, geomean, overall
from harness.nightly.history import append_night, history_dir, load_history
from harness.nightly.pages import night_page, trends_page
from harness.nightly.replicates import Side, replicate_kind, side_from_runs
from harness.record.files import write_json
from harness.record.rundir import now_iso, run_dir_of
from harness.redact import mask_data
from harness.report.build import write_report
from harness.report.ci import junit_document

EXIT = {"no regression": 0, "regression": 1, "invalid": 2}


@dataclass
class Settings:
    trials: int = 5
    scenario: str = "nightly"
    host: str | None = None
    reports: Path = Path("reports")
    warmup_s: float = 5.0
    min_change: float = 0.10
    family_alpha: float = 0.01
    extra_locust_args: tuple[str, ...] = ()


def run_trial(s: Settings, index: int, night_id: str) -> Path:
    """One Locust run of the nightly scenario, named by the night; its run directory."""
    print(f"nightly: trial {index + 1} of {s.trials} ({s.scenario})", flush=True)
    run_id = f"{night_id}-trial{index + 1}"
    cmd = locust_command(
        "--only-summary",
        "--scenario",
        s.scenario,
        "--reports-dir",
        str(s.reports),
        "--run-id",
        run_id,
        *s.extra_locust_args,
    )
    if s.host:
        cmd += ["--host", s.host]
    result = subprocess.run(cmd, capture_output=True, text=True)
    run_dir = run_dir_of(s.reports, run_id)
    if not (run_dir / "run.json").is_file():
        said = [
            line.removeprefix("harness: error: ")
            for line in result.stderr.splitlines()
            if line.startswith("harness: error: ")
        ]
        raise HarnessError(
            said[-1]
            if said
            else f"trial {index + 1} left no run directory (locust exit {result.returncode})"
        )
    return run_dir


def compare_sides(baseline: Side, current: Side, s: Settings) -> tuple[str, list[Change]]:
    if (baseline.scenario, baseline.target) != (current.scenario, current.target):
        raise HarnessError(
            "refusing to compare runs of different set-ups: baseline is scenario "
            f"{baseline.scenario!r} against {baseline.target!r}, current is scenario "
            f"{current.scenario!r} against {current.target!r}"
        )
    kind = replicate_kind(baseline, current)
    return kind, compare(
        baseline.replicates(kind), current.replicates(kind), s.min_change, s.family_alpha
    )


def nightly(s: Settings) -> int:
    night_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = now_iso()
    baseline_file = baseline_dir(s.reports) / "baseline.json"
    if baseline_file.is_file():
        load_baseline(baseline_file)  # a damaged baseline stops the night before its trials
    trials = [run_trial(s, i, night_id) for i in range(s.trials)]
    reasons = []
    trial_rows = []
    for run_dir in trials:
        summary, _ = write_report(run_dir, warmup_s=s.warmup_s)
        trial_rows.append(
            {"run_id": run_dir.name, "verdict": summary["verdict"], "dir": str(run_dir)}
        )
        if summary["verdict"] == "invalid":
            reasons += [f"trial {run_dir.name}: {r}" for r in summary["reasons"]]
    if not baseline_file.is_file():
        runs = " ".join(str(t) for t in trials)
        raise HarnessError(
            f"no baseline yet at {baseline_file}; if tonight's trials are good, make them the "
            f"baseline: python -m harness baseline set {runs}"
        )
    baseline, baseline_body = load_baseline(baseline_file)
    current = side_from_runs(trials, s.warmup_s, require_valid=False)  # invalid: see reasons
    kind, changes = compare_sides(baseline, current, s)
    verdict = "invalid" if reasons else overall(changes)
    folder = s.reports / "nights" / night_id
    folder.mkdir(parents=True, exist_ok=True)
    night: dict[str, Any] = {
        "schema_version": 1,
        "night_id": night_id,
        "started": started,
        "ended": now_iso(),
        "verdict": verdict,
        "reasons": reasons,
        "scenario": current.scenario,
        "target": current.target,
        "replicates": kind,
        "min_change": s.min_change,
        "family_alpha": s.family_alpha,
        "baseline_version": baseline_body.get("version"),
        "baseline_runs": len(baseline.runs),
        "git_commit": current.runs[0].get("git_commit"),
        "trials": [
            {**t, "href": str(Path("..") / ".." / "runs" / t["run_id"] / "report.html")}
            for t in trial_rows
        ],
        "changes": [c.as_dict() for c in changes],
        "phases": {
            phase: {stat: round(geomean(v), 3) for stat, v in stats.items()}
            for phase, stats in current.trials.items()
        },
    }
    night = mask_data(night)  # the target's URL may carry a password or a token
    write_json(folder / "night.json", night)
    (folder / "night.html").write_text(night_page(night, "../../history/trends.html"))
    (folder / "junit.xml").write_text(night_junit(night))
    (folder / "summary.md").write_text(night_markdown(night))
    append_night(
        s.reports,
        {
            k: night[k]
            for k in (
                "night_id",
                "started",
                "verdict",
                "scenario",
                "target",
                "git_commit",
                "baseline_version",
                "phases",
            )
        },
    )
    write_trends(s.reports)
    print(
        f"nightly: {verdict.upper()} ({kind} as replicates; baseline version "
        f"{baseline_body.get('version')})"
    )
    for c in changes:
        if c.verdict in ("regression", "improvement"):
            print(f"  {c.verdict}: {c.phase} {c.stat} x{c.ratio} ({c.low}-{c.high})")
    for r in reasons:
        print(f"  - {r}")
    print(f"nightly: {folder / 'night.html'}; trends {history_dir(s.reports) / 'trends.html'}")
    return EXIT[verdict]


def write_trends(reports: Path) -> Path:
    baseline_file = baseline_dir(reports) / "baseline.json"
    baseline = load_baseline(baseline_file)[1] if baseline_file.is_file() else None
    page = trends_page(mask_data(load_history(reports)), mask_data(baseline), load_benchmarks())
    path = history_dir(reports) / "trends.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path


def night_junit(night: dict[str, Any]) -> str:
    changes = night["changes"]
    suite = ET.Element(
        "testsuite",
        name=f"miptech-nightly {night['night_id']}",
        tests=str(len(changes)),
        failures=str(sum(c["verdict"] == "regression" for c in changes)),
    )
    for c in changes:
        case = ET.SubElement(
            suite, "testcase", classname=f"phase.{c['phase']}", name=f"{c['stat']} no regression"
        )
        if c["verdict"] == "regression":
            ET.SubElement(
                case,
                "failure",
                message=f"x{c['ratio']} ({c['low']}-{c['high']}), p={c['p_value']:.2g}",
            )
        elif c["verdict"] == "insufficient":
            ET.SubElement(case, "skipped", message="too few replicates")
    return junit_document(suite, night["reasons"] if night["verdict"] == "invalid" else [], "night")


def night_markdown(night: dict[str, Any]) -> str:
    lines = [f"## MIPTech nightly `{night['night_id']}`: **{night['verdict'].upper()}**", ""]
    lines += [f"- {r}" for r in night["reasons"]]
    lines += [
        "| phase | stat | baseline ms | tonight ms | ratio | interval | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in night["changes"]:
        lines.append(
            f"| {c['phase']} | {c['stat']} | {c['baseline_ms']} | {c['current_ms']} | "
            f"{c['ratio']} | {c['low']} to {c['high']} | {c['verdict']} |"
        )
    return "\n".join(lines) + "\n"
