"""Short real Locust runs against the reference platform, as users run them."""

from __future__ import annotations

import csv
import itertools
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.analysis.stats import percentile
from harness.launch import locust_command
from harness.record.schema import RUN_JSON, split_labelled
from harness.server.groundtruth import read_ground_truth
from tests.conftest import harness_env, run_harness

LOCUST = locust_command()


def locust(tmp_path: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOCUST, "--reports-dir", str(tmp_path / "reports"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=harness_env(),
    )


def latest(tmp_path: Path) -> Path:
    return (tmp_path / "reports" / "latest").resolve()


def run_json(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text())


def raw_rows(run_dir: Path) -> list[dict[str, str]]:
    rows = []
    for path in sorted((run_dir / "samples").glob("*.csv")):
        with path.open() as f:
            rows += list(csv.DictReader(f))
    return rows


def assert_accounting(run: dict[str, Any]) -> None:
    for acct in [run["accounting"]["total"], *run["accounting"]["workers"].values()]:
        failed = sum(acct["failed"].values())
        assert acct["started"] == acct["completed"] + failed + acct["interrupted"], acct
    assert run["accounting"]["identity_holds"]


def assert_raw_agrees_with_histograms(run_dir: Path) -> int:
    """Every series of histograms.json, a phase or a phase by step or tenant, holds exactly
    the raw rows it names; run.json's phase table agrees with them."""
    hists = json.loads((run_dir / "histograms.json").read_text())["phases"]
    rows = raw_rows(run_dir)
    labelled = 0
    for name, h in hists.items():
        phase, label, value = split_labelled(name) or (name, None, None)
        labelled += label is not None
        mine = [r for r in rows if r["phase"] == phase and (label is None or r[label] == value)]
        ok = np.array([int(r["duration_us"]) for r in mine if r["ok"] == "1"])
        bad = [r["error"] for r in mine if r["ok"] == "0"]
        assert len(ok) == h["count"], name
        assert len(bad) == sum(h["errors"].values()), name
        if len(ok):
            assert HdrHistogram.decode(h["hdr"]).get_total_count() == len(ok)
            if label is not None:
                continue
            table = json.loads((run_dir / "run.json").read_text())["phases"][phase]
            for q in (50, 90, 95, 99):
                # one rule (nearest rank) on both: they differ by the 3 significant figures
                exact_ms = percentile(np.sort(ok), q) / 1000
                assert exact_ms <= table[f"p{q}_ms"] <= exact_ms * 1.001 + 0.001, (phase, q)
    return labelled


def test_single_process_run_with_embedded_platform(tmp_path: Path) -> None:
    result = locust(
        tmp_path,
        "-u",
        "10",
        "-r",
        "10",
        "-t",
        "6s",
        "--platform-profile",
        "fast",
        "--chats-per-session",
        "2",
        "--think-time",
        "0.05,0.1",
    )
    assert "no --host given: started the reference platform (profile fast)" in result.stdout
    run_dir = latest(tmp_path)
    run = run_json(run_dir)
    assert run["status"] == "complete" and run["target"].startswith("ws://127.0.0.1:")
    assert run["schema_version"] == RUN_JSON and run["versions"]["locust"]
    assert_accounting(run)
    assert run["accounting"]["total"]["completed"] > 20
    assert run["health"]["valid"], run["health"]["reasons"]
    phases = run["phases"]
    assert {
        "connect",
        "auth_delay",
        "platform_init",
        "ready",
        "chat_first",
        "chat_gap",
        "chat_complete",
    } <= set(phases)
    assert all(p["errors"] == 0 for p in phases.values()), phases
    assert phases["chat_complete"]["count"] >= 2 * run["accounting"]["total"]["completed"]
    # the fast profile streams 3 chunks a reply: 2 gaps each, and every reply has its chunks
    assert phases["chat_gap"]["count"] >= 2 * phases["chat_complete"]["count"]
    replies = [r for r in raw_rows(run_dir) if r["phase"] == "chat_complete"]
    assert {r["chunks"] for r in replies} == {"3"}
    # no injected gaps: chunks often share one read, a stream of no measurable time: no rate
    assert all(r["chars_per_s"] == "" or float(r["chars_per_s"]) > 0 for r in replies)
    # the bundled conversations name their steps: chat phases are broken down by them
    assert assert_raw_agrees_with_histograms(run_dir) > 0
    assert "WS       ready" in result.stderr  # Locust's own table shows the phases live
    # Locust started the 10 users in one batch; their first connects are spread over ~1 s,
    # not all in the first 0.1 s (no lifecycle is shorter: its auth delay alone is 0.1 s)
    starts = sorted(float(r["start"]) for r in raw_rows(run_dir) if r["phase"] == "connect")
    assert sum(t < starts[0] + 0.1 for t in starts) <= 6, starts[:10]


def test_two_processes_merge_into_one_result(tmp_path: Path) -> None:
    result = locust(
        tmp_path,
        "-u",
        "12",
        "-r",
        "12",
        "-t",
        "6s",
        "--processes",
        "2",
        "--platform-profile",
        "fast",
        "--think-time",
        "0.05,0.1",
        "--ground-truth",
    )
    run_dir = latest(tmp_path)
    run = run_json(run_dir)
    assert run["status"] == "complete", result.stderr[-2000:]
    workers = run["accounting"]["workers"]
    assert len(workers) == 2 and len(list((run_dir / "samples").glob("*.csv"))) == 2
    assert_accounting(run)
    total = run["accounting"]["total"]
    assert total["started"] == sum(w["started"] for w in workers.values())
    assert all(w["started"] > 0 for w in workers.values())
    assert_raw_agrees_with_histograms(run_dir)
    assert set(run["health"]["processes"]) == set(workers)
    # the workers talked to the platform the master started, not to anything else
    truth = {str(e["session_id"]) for e in read_ground_truth(run_dir / "platform")}
    assert {r["session_id"] for r in raw_rows(run_dir)} <= truth


def test_sigterm_mid_run_leaves_a_complete_run_directory(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*LOCUST, "--reports-dir", str(tmp_path / "reports"), "-u", "20", "-r", "20", "-t", "60s"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=harness_env(),
    )
    time.sleep(6)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    run = run_json(latest(tmp_path))
    assert run["status"] == "stopped", out[-2000:]
    assert run["planned_s"] == 60 and 3 < run["actual_s"] < 12
    assert_accounting(run)
    assert 0 < run["accounting"]["total"]["interrupted"] <= 20
    assert run["accounting"]["total"]["interrupted_unexplained"] == 0
    assert run["phases"]["ready"]["count"] > 0
    assert_raw_agrees_with_histograms(latest(tmp_path))
    report = run_harness("report", str(latest(tmp_path)))
    assert report.returncode == 2, report.stdout  # a stopped run cannot PASS
    assert "stopped after" in report.stdout


def test_arrival_scheduler_counts_and_lateness(tmp_path: Path) -> None:
    scenario = tmp_path / "open.toml"
    scenario.write_text(
        "[users]\nchats_per_session = 0\n"
        "[platform]\nprofile = 'fast'\n"
        "[arrival]\nrate = 40\nprocess = 'constant'\nduration_s = 3\n"
    )
    locust(tmp_path, "--scenario", str(scenario), "-t", "8s")
    run = run_json(latest(tmp_path))
    assert_accounting(run)
    health = run["health"]["processes"]["local"]
    assert health["arrivals"] == run["accounting"]["total"]["started"] == 120
    assert 0 <= health["late_starts"] <= health["arrivals"]
    assert health["schedule_lag_p99_ms"] is not None
    assert run["accounting"]["total"]["completed"] == 120


def test_reconnect_storm_counts_reconnects_with_their_own_timings(tmp_path: Path) -> None:
    scenario = tmp_path / "storm.toml"
    scenario.write_text(
        "user_class = 'HeldSessionUser'\ndrop_at_s = 3\n"
        "[users]\nchat_interval_s = 1\n"
        "[settings]\nreconnect_delay_ms = 300\n"
        "[platform]\nprofile = 'fast'\n"
        "[[stages]]\nduration_s = 8\nusers = 10\nspawn_rate = 10\n"
    )
    result = locust(tmp_path, "--scenario", str(scenario))
    run = run_json(latest(tmp_path))
    assert "asked the platform to drop every session" in result.stdout
    assert run["accounting"]["total"]["reconnects"] == 10
    reconnect = [r for r in raw_rows(latest(tmp_path)) if r["phase"] == "reconnect"]
    assert len(reconnect) == 10 and all(r["attempt"] == "1" for r in reconnect)
    assert all(300_000 <= int(r["duration_us"]) < 2_000_000 for r in reconnect)
    assert_accounting(run)
    run_harness("report", str(latest(tmp_path)))  # the report draws the reconnect picture
    assert "<h2>Reconnects</h2>" in (latest(tmp_path) / "report.html").read_text()


def test_a_saturated_harness_marks_the_run_invalid(tmp_path: Path) -> None:
    result = locust(
        tmp_path,
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "3s",
        "--platform-profile",
        "fast",
        "--max-loop-lag-ms",
        "0.001",
    )
    run = run_json(latest(tmp_path))
    assert run["health"]["valid"] is False
    assert "event-loop lag p99" in run["health"]["reasons"][0]
    assert "RUN INVALID, the harness itself was the bottleneck" in result.stdout


def test_bad_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = locust(tmp_path, "--scenario", "nonexistent", "-t", "2s")
    assert result.returncode == 2
    assert "harness: error: --scenario nonexistent: no such scenario" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_locust_stats_leaves_the_harness_figures_whole(tmp_path: Path) -> None:
    result = locust(
        tmp_path,
        "-u",
        "5",
        "-r",
        "5",
        "-t",
        "3s",
        "--platform-profile",
        "fast",
        "--no-locust-stats",
        "--chats-per-session",
        "1",  # one chat, no think time: many short lifecycles
    )
    run = run_json(latest(tmp_path))
    assert run["phases"]["ready"]["count"] > 10
    assert_raw_agrees_with_histograms(latest(tmp_path))
    assert "WS       ready" not in result.stderr  # Locust's own table has no phases


def test_two_tests_from_the_web_ui_make_one_consistent_run(tmp_path: Path) -> None:
    """Start, stop, start again in Locust's web UI: one run directory whose samples and
    accounting hold both tests (nothing truncated, nothing counted twice)."""
    import urllib.parse
    import urllib.request

    from tests.conftest import free_port

    port = free_port()
    process = subprocess.Popen(
        [
            *LOCUST[: LOCUST.index("--headless")],
            *("--web-host", "127.0.0.1", "--web-port", str(port)),
            *("--reports-dir", str(tmp_path / "reports"), "--platform-profile", "fast"),
        ],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=harness_env(),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def call(path: str, form: dict[str, str] | None = None) -> None:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        urllib.request.urlopen(base + path, data=data, timeout=10).close()

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                call("/")
                break
            except OSError:
                assert time.monotonic() < deadline, "the web UI did not start"
                time.sleep(0.2)
        for _ in range(2):
            call("/swarm", {"user_count": "3", "spawn_rate": "3"})
            time.sleep(3)
            call("/stop", {})
            time.sleep(1)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    run_dir = latest(tmp_path)
    run = run_json(run_dir)
    assert_accounting(run)
    assert run["status"] == "complete", out[-2000:]
    rows = raw_rows(run_dir)
    assert len(rows) == run["samples"]["local"]["rows"] > 0
    starts = sorted(float(r["start"]) for r in rows if r["phase"] == "connect")
    assert max(b - a for a, b in itertools.pairwise(starts)) > 0.8  # the pause between tests
    assert_raw_agrees_with_histograms(run_dir)


def test_a_bad_or_taken_run_id_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = locust(tmp_path, "--run-id", "../elsewhere", "-t", "2s")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "harness: error: --run-id '../elsewhere': use letters, digits" in result.stderr
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "reports").exists()
    (tmp_path / "reports" / "runs" / "mine").mkdir(parents=True)
    result = locust(tmp_path, "--run-id", "mine", "-t", "2s")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "exists already: choose another --run-id" in result.stderr
    assert not (tmp_path / "reports" / "latest").exists()  # the last good run stays latest
