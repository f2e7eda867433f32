"""The run directory: reports/runs/<run_id>/ and reports/latest pointing at the newest.

run.json            what ran, where, with what; accounting; health; per-phase table
histograms.json     merged per-phase HdrHistograms (base64, µs) and error counts
samples/<worker>.csv raw samples of each process
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def create_run_dir(reports: Path, run_id: str) -> Path:
    run_dir = reports / "runs" / run_id
    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    latest = reports / "latest"
    tmp = reports / f".latest-{run_id}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path("runs") / run_id)
    os.replace(tmp, latest)
    return run_dir


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def run_metadata() -> dict[str, Any]:
    def v(name: str) -> str | None:
        try:
            return version(name)
        except Exception:
            return None

    return {
        "versions": {
            "harness": v("miptech-harness"),
            "locust": v("locust"),
            "websocket_client": v("websocket-client"),
            "python": sys.version.split()[0],
        },
        "git_commit": git_commit(),
        "host": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }


def write_json(path: Path, body: dict[str, Any]) -> None:
    """Atomically, and with every secret masked (see harness.report.redact)."""
    from harness.report.redact import redact

    tmp = path.with_suffix(".tmp")
    tmp.write_text(redact(json.dumps(body, indent=2, default=str)) + "\n")
    os.replace(tmp, path)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
