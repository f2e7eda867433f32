"""reports/history/: one small file per night, what the trends page is drawn from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.record.files import write_json
from harness.record.shape import NUM, OPT_STR, check_shape

NIGHT = {
    "night_id": str,
    "started": OPT_STR,
    "verdict": str,
    "baseline_version": (int, type(None)),
    "phases": {"*": {"*": NUM}},  # phase -> stat -> ms
}


def history_dir(reports: Path) -> Path:
    return reports / "history"


def append_night(reports: Path, night: dict[str, Any]) -> Path:
    folder = history_dir(reports)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{night['night_id']}.json"
    write_json(path, night)
    return path


def load_history(reports: Path) -> list[dict[str, Any]]:
    nights = []
    for path in sorted(history_dir(reports).glob("*.json")):
        try:
            night = json.loads(path.read_text(encoding="utf-8"))
            check_shape(night, NIGHT, str(path))
        except (ValueError, RecursionError, OSError, HarnessError):
            continue  # a damaged night is left out of the trends, not fatal
        nights.append(night)
    return sorted(nights, key=lambda n: n.get("started") or n.get("night_id", ""))
