"""The run directory: reports/runs/<run_id>/, and reports/latest pointing at the newest."""

from __future__ import annotations

import os
import platform
import re
import secrets
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.record.files import RecordWriteError, describe_os_error

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def check_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise HarnessError(
            f"--run-id {run_id!r}: use letters, digits, '.', '_' and '-' (at most 100)"
        )
    return run_id


def run_dir_of(reports: Path, run_id: str) -> Path:
    return reports / "runs" / run_id


def create_run_dir(reports: Path, run_id: str) -> Path:
    """Make the run's directory (it must not exist yet). reports/latest moves to it only
    once the run measures (`point_latest`): a rejected command leaves the last run latest."""
    run_dir = run_dir_of(reports, run_id)
    latest = reports / "latest"
    if latest.exists() and not latest.is_symlink():
        raise HarnessError(
            f"{latest} is not the symbolic link the harness keeps there: move it away"
        )
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir()  # never into an existing run: it would overwrite that run's files
        (run_dir / "samples").mkdir()
    except FileExistsError:
        raise HarnessError(f"{run_dir} exists already: choose another --run-id") from None
    except OSError as exc:
        raise RecordWriteError(describe_os_error(run_dir, exc)) from None
    return run_dir


def point_latest(reports: Path, run_id: str) -> None:
    """Make reports/latest point at this run (atomically: a reader sees the old or new)."""
    latest = reports / "latest"
    tmp = reports / f".latest-{run_id}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("runs") / run_id)
        os.replace(tmp, latest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RecordWriteError(describe_os_error(latest, exc)) from None


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


def now_iso() -> str:
    return iso_of(datetime.now(UTC).timestamp())


def iso_of(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds, the run record's one time format."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_of(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
