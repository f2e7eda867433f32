"""The baseline: a versioned file under reports/baseline/ holding the replicates of the runs it
came from and their metadata. `baseline.json` is the current one; `baseline-vN.json` every
version ever set."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.checks import range_problem, read_text
from harness.errors import HarnessError
from harness.nightly.replicates import Side, side_from_runs
from harness.record.files import write_json
from harness.record.rundir import now_iso
from harness.record.shape import BASELINE_JSON, check_shape

SCHEMA_VERSION = 1


def baseline_dir(reports: Path) -> Path:
    return reports / "baseline"


def set_baseline(run_dirs: list[Path], reports: Path, warmup_s: float = 0.0) -> Path:
    side = side_from_runs(run_dirs, warmup_s)
    folder = baseline_dir(reports)
    folder.mkdir(parents=True, exist_ok=True)
    current = folder / "baseline.json"
    version = (load_baseline(current)[1]["version"] if current.exists() else 0) + 1
    body = {
        "schema_version": SCHEMA_VERSION,
        "version": version,
        "created": now_iso(),
        "warmup_s": warmup_s,
        **asdict(side),
    }
    write_json(folder / f"baseline-v{version}.json", body)
    write_json(current, body)
    return current


def load_baseline(path: Path) -> tuple[Side, dict[str, Any]]:
    if not path.exists():
        raise HarnessError(
            f"no baseline at {path}: set one from good runs with "
            "`python -m harness baseline set RUN_DIR...`"
        )
    try:
        body = json.loads(read_text(path, "baseline"))
    except (ValueError, RecursionError) as exc:
        raise HarnessError(f"{path}: not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(body, dict):
        raise HarnessError(f"{path}: not a baseline (a JSON object)")
    if body.get("schema_version") != SCHEMA_VERSION or isinstance(body["schema_version"], bool):
        raise HarnessError(
            f"{path}: baseline schema_version {body.get('schema_version')!r}; "
            f"this harness reads {SCHEMA_VERSION}"
        )
    fields = ("scenario", "target", "runs", "trials", "blocks")
    missing = [k for k in (*fields, "version", "created") if k not in body]
    if missing:
        raise HarnessError(f"{path}: not a baseline (no {', '.join(missing)})")
    check_shape(body, BASELINE_JSON, str(path))
    for kind in ("trials", "blocks"):
        for phase, stats in body[kind].items():
            for stat, values in stats.items():
                if any(range_problem(v, 0) for v in values):
                    raise HarnessError(
                        f"{path}: {kind}.{phase}.{stat}: {values!r:.60}; each value must be "
                        "a finite number of ms >= 0"
                    )
    return Side(**{k: body[k] for k in fields}), body
