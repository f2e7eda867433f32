"""The examples a team copies (examples/) run as real Locust runs against the reference
platform, single-process and distributed, and their steps and tenants reach the report."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, harness_env, run_harness

EXAMPLES = ROOT / "examples"
RUNS: dict[str, tuple[str, ...]] = {
    # 12 users: the troubleshooting task (1 in 4) runs in all but ~0.1 % of runs (6 users: ~3 %)
    "support": ("-f", str(EXAMPLES / "support_conversation.py"), "-u", "12", "-r", "12"),
    "tenants": (
        "-f",
        str(EXAMPLES / "tenant_mix.py"),
        "-u",
        "10",
        "-r",
        "10",
        "--processes",
        "2",
    ),
    "conversations": (
        "-f",
        str(ROOT / "locustfile.py"),
        "-u",
        "6",
        "-r",
        "6",
        "--conversations",
        str(EXAMPLES / "conversations.jsonl"),
        "--think-time",
        "0,0.2",
    ),
}


def _run(name: str, root: Path) -> dict[str, Any]:
    home = root / name
    home.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "--headless",
            "-t",
            "8s",
            "--platform-profile",
            "fast",
            "--start-spread",
            "0",
            "--reports-dir",
            str(home / "reports"),
            *RUNS[name],
        ],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
        env=harness_env(),
    )
    run_dir = (home / "reports" / "latest").resolve()
    report = run_harness("report", str(run_dir))
    summary = json.loads((run_dir / "summary.json").read_text())
    run = json.loads((run_dir / "run.json").read_text())
    return {"result": result, "report": report, "summary": summary, "run": run}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("examples")
    with ThreadPoolExecutor(max_workers=len(RUNS)) as pool:
        return dict(zip(RUNS, pool.map(lambda n: _run(n, root), RUNS), strict=True))


def _steps(summary: dict[str, Any], phase: str) -> set[str]:
    prefix = f"{phase}{{step:"
    return {k[len(prefix) : -1] for k in summary["breakdown"] if k.startswith(prefix)}


def _valid(r: dict[str, Any]) -> dict[str, Any]:
    assert r["result"].returncode == 0, r["result"].stderr[-2000:]
    assert "Traceback" not in r["result"].stderr
    total = r["run"]["accounting"]["total"]
    assert r["run"]["accounting"]["identity_holds"], total
    assert total["completed"] >= 3 and total["failed_total"] == 0, total
    assert not total["harness_errors"], total
    return r["summary"]


def test_support_conversation_breaks_chats_down_by_step(runs: dict[str, Any]) -> None:
    summary = _valid(runs["support"])
    assert {"pricing_question", "pricing_followup"} <= _steps(summary, "chat_complete")
    row = summary["breakdown"]["chat_complete{step:pricing_question}"]
    assert row["count"] > 0 and row["p50_ms"] > 0
    assert summary["phases"]["heartbeat"]["count"] > 0 or summary["breakdown"].get(
        "chat_complete{step:troubleshooting}"
    )


def test_tenant_mix_runs_distributed_with_each_tenants_figures(runs: dict[str, Any]) -> None:
    summary = _valid(runs["tenants"])
    tenants = {
        k.split(":", 1)[1][:-1] for k in summary["breakdown"] if k.startswith("ready{tenant:")
    }
    assert tenants == {"acme-store", "globex-helpdesk"}
    acme = summary["breakdown"]["ready{tenant:acme-store}"]["count"]
    globex = summary["breakdown"]["ready{tenant:globex-helpdesk}"]["count"]
    assert acme + globex == summary["phases"]["ready"]["count"]  # every session, once
    assert "ticket_status" in _steps(summary, "chat_complete")
    assert len(runs["tenants"]["run"]["accounting"]["workers"]) == 2


def test_a_conversations_file_drives_the_bundled_users(runs: dict[str, Any]) -> None:
    summary = _valid(runs["conversations"])
    assert _steps(summary, "chat_complete") <= {"order_status", "returns", "smalltalk"}
    assert {"order_status", "returns"} <= _steps(summary, "chat_complete")
    # one conversation names its tenant: its sessions (only) are labelled with it
    assert "ready{tenant:acme-store}" in summary["breakdown"]
    assert (
        summary["breakdown"]["ready{tenant:acme-store}"]["count"]
        < summary["phases"]["ready"]["count"]
    )
