"""The live view in real runs: the Benchmarks tab of Locust's web UI in Chromium and its JSON
during a distributed run, the same numbers as the report's at the end; the console block
and the end-of-run checks table."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, free_port, harness_env, run_harness
from tests.report.browser import inspect_page

TAB = "harness-benchmarks"
# the table's rows once the tab has filled them (the header row alone: not yet)
ROWS = (
    "(rows => rows.length > 1 ? rows : null)([...document.querySelectorAll('table tr')]"
    ".map(r => r.innerText.replace(/\\s+/g, ' ')))"
)


def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            body: dict[str, Any] = json.load(r)
            return body
    except OSError:
        return None


def _locust(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "locustfile.py"),
            "--platform-profile",
            "fast",
            "--chats-per-session",
            "1",
            "--reports-dir",
            str(tmp_path / "reports"),
            *args,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=harness_env(),
    )


def test_the_benchmarks_tab_and_its_json_during_a_distributed_run(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    locust = _locust(
        tmp_path,
        "--autostart",
        "--autoquit",
        "5",
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(port),
        "--processes",
        "2",
        "-u",
        "10",
        "-r",
        "10",
        "-t",
        "14s",
    )
    try:
        live = None
        for _ in range(60):  # the workers join, the test starts, the first deltas arrive
            live = _get(f"{base}/harness/live")
            if live and live["state"] == "running" and live["phases"].get("ready"):
                break
            time.sleep(0.5)
        assert live is not None and live["state"] == "running", live
        assert len(live["health"]["processes"]) == 2  # both workers, from their deltas
        assert {c["phase"] for c in live["checks"]} >= {"ready", "platform_init"}
        page = inspect_page(f"{base}/?tab={TAB}", ROWS, wait_s=20)
        rows = page["value"] or []
        text = "\n".join(rows)
        # the checks with their limits and live status, the phases to the microsecond
        assert "check ready p95 < 600ms" in text and "if it ended now" in text, text
        ready = next(r for r in rows if r.startswith("phase ready "))
        assert any(len(x.split(".")[-1]) == 3 for x in ready.split() if "." in x), ready
        assert "lifecycles started" in text and text.count("\nhealth ") == 2  # per worker
        assert not [e for e in page["errors"] if TAB in e or "extended" in e]
        # the end: the last snapshot once every worker's final figures are in
        final = None
        for _ in range(40):
            body = _get(f"{base}/harness/live")
            if body is None:
                break
            if body["state"] == "stopped" and body["lifecycles"]["in_flight"] == 0:
                time.sleep(1.2)  # one more snapshot, after the cache's second
                final = _get(f"{base}/harness/live") or body
                break
            time.sleep(0.5)
        _, err = locust.communicate(timeout=60)
    finally:
        locust.kill()
    assert locust.returncode == 0, err[-3000:]
    assert final is not None, "no snapshot after the run stopped"
    run_dir = (tmp_path / "reports" / "latest").resolve()
    assert run_harness("report", str(run_dir)).returncode in (0, 1, 2)
    summary = json.loads((run_dir / "summary.json").read_text())
    _same_numbers(final, summary)


def _same_numbers(live: dict[str, Any], summary: dict[str, Any]) -> None:
    """The tab's JSON and summary.json (raw samples): the same counts, and every figure
    the same within the histograms' 3 significant figures."""
    assert live["phases"].keys() == summary["phases"].keys()
    for phase, row in summary["phases"].items():
        mine = live["phases"][phase]
        assert mine["count"] == row["count"] and mine["errors"] == row["errors"], phase
        for key in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms"):
            exact = row[key]
            assert exact <= mine[key] <= exact * 1.001 + 0.001, (phase, key, mine[key], exact)
    assert len(live["checks"]) == len(summary["checks"])
    for mine, row in zip(live["checks"], summary["checks"], strict=True):
        assert (mine["phase"], mine["check"], mine["samples"]) == (
            row["phase"],
            row["check"],
            row["samples"],
        )
        if row["value_ms"] is not None:
            assert row["value_ms"] <= mine["value_ms"] <= row["value_ms"] * 1.001 + 0.001
    assert live["lifecycles"]["started"] == summary["lifecycles"]["started"]
    assert live["lifecycles"]["completed"] == summary["lifecycles"]["completed"]


@pytest.mark.parametrize("quiet", [False, True], ids=["live block", "only summary"])
def test_the_console_block_and_the_checks_at_the_end(tmp_path: Path, quiet: bool) -> None:
    args = ["--headless", "-u", "5", "-r", "5", "-t", "5s", "--live-every", "2"]
    result = _locust(tmp_path, *args, *(["--only-summary"] if quiet else []))
    out, err = result.communicate(timeout=90)
    assert result.returncode == 0, err[-3000:]
    blocks = [line for line in out.splitlines() if line.startswith("harness live ")]
    if quiet:
        assert blocks == []
    else:
        assert len(blocks) >= 1 and "lifecycles/s; verdict if it ended now:" in blocks[0]
        assert "ready p95 " in out and "health: valid" in out
    # after Locust's own tables: the checks, the errors, the lifecycles, the verdict
    tail = out[out.rindex("harness: benchmark checks") :]
    table = [line.split() for line in tail.splitlines()]
    assert ["phase", "check", "measured", "ms", "interval", "ms", "status"] in table
    assert any(row[:4] == ["ready", "p95", "<", "600ms"] for row in table), tail
    assert "lifecycles: started" in tail and "harness: verdict on the merged histograms:" in tail
    assert tail.rstrip().splitlines()[-1].startswith("harness: results in ")


def test_report_at_the_end_gives_the_verdict_its_exit_code_and_the_page(tmp_path: Path) -> None:
    """With --report a run ends as `harness report` would: the checks from the raw
    samples, the verdict (its exit code: too few samples for a pass here, so invalid)."""
    result = _locust(tmp_path, "--headless", "-u", "3", "-r", "3", "-t", "3s", "--report")
    out, err = result.communicate(timeout=90)
    run_dir = (tmp_path / "reports" / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text())
    codes = {"pass": 0, "fail": 1, "invalid": 2}
    assert result.returncode == codes[summary["verdict"]], err[-2000:]
    tail = out[out.rindex("harness: benchmark checks") :]
    assert f"verdict: {summary['verdict'].upper()}" in tail
    assert f"report: {run_dir / 'report.html'}" in tail and (run_dir / "report.html").is_file()
