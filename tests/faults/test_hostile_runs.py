"""Real Locust runs against a hostile platform: every lifecycle ends in one class, the
verdict is never a wrong PASS, and nothing prints a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.launch import locust_command
from tests.conftest import harness_env, run_harness
from tests.faults.hostile import hostile_server


def hostile_run(tmp_path: Path, mode: str, seconds: int = 3, **options: Any) -> dict[str, Any]:
    """A headless run of 10 looping users against a hostile server, then its report."""
    with hostile_server(mode, **options) as url:
        result = subprocess.run(
            [
                *locust_command("--only-summary"),
                "--reports-dir", str(tmp_path / "reports"), "--run-id", mode,
                "--host", url, "-u", "10", "-r", "10", "-t", f"{seconds}s",
                "--think-time", "0.05,0.1", "--max-loop-lag-ms", "100",
            ],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, env=harness_env(),
        )  # fmt: skip
    run_dir = tmp_path / "reports" / "runs" / mode
    report = run_harness("report", str(run_dir))
    output = result.stdout + result.stderr + report.stdout + report.stderr
    assert "Traceback" not in output, output[-3000:]
    run = json.loads((run_dir / "run.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    for acct in [run["accounting"]["total"], *run["accounting"]["workers"].values()]:
        failed = sum(acct["failed"].values())
        assert acct["started"] == acct["completed"] + failed + acct["interrupted"], acct
        assert acct["interrupted_unexplained"] == 0, acct
    assert run["accounting"]["total"]["started"] > 0
    return {"run": run, "summary": summary, "exit": report.returncode, "output": output}


@pytest.mark.parametrize("mode", ["non_json", "deep_json", "huge_number", "invalid_utf8"])
def test_a_frame_we_cannot_accept_fails_every_lifecycle_as_protocol_error(
    tmp_path: Path, mode: str
) -> None:
    r = hostile_run(tmp_path, mode)
    total = r["run"]["accounting"]["total"]
    assert total["failed"] == {"protocol_error": total["started"] - total["interrupted"]}
    assert total["ready"] == 0
    assert r["summary"]["verdict"] == "fail" and r["exit"] == 1
    budget = next(b for b in r["summary"]["error_budgets"] if b["error_class"] == "protocol_error")
    assert budget["status"] == "fail"


def test_a_frame_over_the_limit_is_a_protocol_error(tmp_path: Path) -> None:
    r = hostile_run(tmp_path, "over_limit", max_frame_bytes=16 * 2**20)
    assert set(r["run"]["accounting"]["total"]["failed"]) == {"protocol_error"}
    assert r["summary"]["verdict"] == "fail"


def test_stray_reply_chunks_are_counted_and_never_complete_a_chat(tmp_path: Path) -> None:
    r = hostile_run(tmp_path, "stray_then_real", reply_delay=0.2)
    total = r["run"]["accounting"]["total"]
    assert total["protocol_violations"]["stray_chunks"] >= total["completed"] > 0
    assert total["failed"] == {}
    chat = r["summary"]["phases"]["chat_complete"]
    assert chat["p50_ms"] >= 200  # the true reply, not the first stray chunk (~0 ms)
    assert r["summary"]["protocol_violations"]["stray_chunks"] > 0
    assert "stray_chunks" in r["output"]  # said at the end of the run and in the report


def test_ready_before_auth_is_a_counted_violation(tmp_path: Path) -> None:
    r = hostile_run(tmp_path, "ready_before_auth")
    total = r["run"]["accounting"]["total"]
    assert total["protocol_violations"]["ready_before_auth"] >= total["ready"] > 0
    assert r["summary"]["phases"]["platform_init"]["p50_ms"] >= 100  # timed off the real one


def test_a_bad_accept_key_is_handshake_rejected(tmp_path: Path) -> None:
    r = hostile_run(tmp_path, "bad_accept")
    assert set(r["run"]["accounting"]["total"]["failed"]) == {"handshake_rejected"}
    assert r["summary"]["verdict"] == "fail" and r["exit"] == 1


def test_one_byte_segments_change_nothing(tmp_path: Path) -> None:
    r = hostile_run(tmp_path, "one_byte_segments")
    total = r["run"]["accounting"]["total"]
    assert total["failed"] == {} and total["completed"] > 0


def test_an_abrupt_close_after_ready_is_dropped(tmp_path: Path) -> None:
    r = hostile_run(tmp_path, "abrupt_close")
    assert set(r["run"]["accounting"]["total"]["failed"]) == {"dropped"}
    assert r["summary"]["verdict"] == "fail"
