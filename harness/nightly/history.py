"""reports/history/: one small file per night, what the trends page is drawn from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.record.files import write_json


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
            nights.append(json.loads(path.read_text()))
        except ValueError:
            continue  # a damaged night is left out of the trends, not fatal
    return sorted(nights, key=lambda n: n.get("started") or n.get("night_id", ""))
