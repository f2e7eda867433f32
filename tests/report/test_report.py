"""`harness report` on real runs, bad inputs, secrets, and the page in a real browser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.embedded import start_platform
from harness.launch import locust_command
from harness.record.schema import RUN_JSON, SUMMARY_JSON
from tests.conftest import ROOT, harness_env, run_harness
from tests.report.browser import inspect_page

LOCUST = locust_command()


def load_run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Path:
    subprocess.run(
        [*LOCUST, "--reports-dir", str(tmp_path / "reports"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env or harness_env(),
    )  # fmt: skip
    return (tmp_path / "reports" / "latest").resolve()


@pytest.fixture(scope="module")
def documented_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("documented")
    # the lag tolerance is raised: a shared 2-core machine, not the verdict these tests read
    return load_run(tmp, "-u", "60", "-r", "60", "-t", "9s", "--platform-profile", "documented",
                    "--chats-per-session", "0", "--max-loop-lag-ms", "100")  # fmt: skip


def test_documented_profile_passes(documented_run: Path) -> None:
    result = run_harness("report", str(documented_run))
    assert result.returncode == 0, result.stdout
    summary = json.loads((documented_run / "summary.json").read_text())
    # the checks as a table (measured as in summary.json), then the verdict, then the page
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["phase", "check", "measured", "ms", "interval", "ms", "status"]
    ready = next(c for c in summary["checks"] if c["check"] == "p95 < 600ms")
    assert f"{ready['value_ms']:.3f}" in result.stdout
    assert lines[-2:] == ["verdict: PASS", f"report: {documented_run / 'report.html'}"]
    assert summary["verdict"] == "pass" and summary["schema_version"] == SUMMARY_JSON
    assert set(summary["phases"]["ready"]) >= {
        "count",
        "errors",
        "p50_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
    }
    assert {c["phase"] for c in summary["checks"]} == {
        "connect",
        "auth_delay",
        "platform_init",
        "ready",
    }
    assert summary["lifecycles"]["started"] == (
        summary["lifecycles"]["completed"]
        + sum(summary["lifecycles"]["failed"].values())
        + summary["lifecycles"]["interrupted"]
    )
    junit = (documented_run / "junit.xml").read_text()
    assert junit.count("<testcase") == len(summary["checks"]) + len(summary["error_budgets"])
    assert "<failure" not in junit
    assert "**PASS**" in (documented_run / "summary.md").read_text()


def test_degraded_profile_fails(tmp_path: Path) -> None:
    run_dir = load_run(tmp_path, "-u", "80", "-r", "80", "-t", "10s", "--platform-profile", "degraded",
                       "--chats-per-session", "0")  # fmt: skip
    result = run_harness("report", str(run_dir))
    assert result.returncode == 1, result.stdout
    assert "ready p95 = " in result.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "fail"
    assert any(c["phase"] == "platform_init" and c["point"] == "fail" for c in summary["checks"])
    assert "<failure" in (run_dir / "junit.xml").read_text()


def test_report_renders_in_a_real_browser(documented_run: Path) -> None:
    run_harness("report", str(documented_run))
    html = (documented_run / "report.html").read_text()
    assert (
        "http://" not in html.replace('href="http', "") and "<script" not in html
    )  # self-contained
    seen = inspect_page(
        documented_run / "report.html",
        "JSON.stringify({images: [...document.images].map(i => i.complete && i.naturalWidth > 0),"
        " verdict: document.getElementById('verdict').textContent,"
        " checks: document.querySelectorAll('#checks tr').length})",
    )
    assert seen["loaded"] and seen["errors"] == [], seen
    value = json.loads(seen["value"])
    assert len(value["images"]) >= 4 and all(value["images"]), value
    assert "PASS" in value["verdict"] and value["checks"] >= 6, value


def test_no_secret_reaches_any_output(tmp_path: Path) -> None:
    platform = start_platform("--profile", "fast", env=harness_env())
    try:
        host = platform.base.replace("ws://", "ws://alice:hunter2-password@")
        env = harness_env(MIPTECH_API_TOKEN="tok-3f9a8c77e1", MIPTECH_TENANT_ID="miptech-company")
        run_dir = load_run(tmp_path, "-u", "3", "-r", "3", "-t", "3s", "--host", host, env=env)
        subprocess.run([sys.executable, "-m", "harness", "report", str(run_dir)], env=env,
                       capture_output=True, cwd=ROOT)  # fmt: skip
    finally:
        platform.stop()
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {
        "run.json",
        "summary.json",
        "report.html",
        "junit.xml",
        "summary.md",
    }
    for path in files:
        text = path.read_text(errors="replace")
        assert "hunter2-password" not in text, path
        assert "tok-3f9a8c77e1" not in text, path
    assert "alice:****@" in (run_dir / "run.json").read_text()


def test_bad_inputs_are_one_line_and_exit_2(tmp_path: Path, documented_run: Path) -> None:
    def report(*args: str) -> subprocess.CompletedProcess[str]:
        result = run_harness("report", *args)
        assert result.returncode == 2, result
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        return result

    assert "no such run directory" in report(str(tmp_path / "nope")).stderr
    assert "not a run directory (no run.json)" in report(str(tmp_path)).stderr
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "run.json").write_text(json.dumps({"schema_version": 99}))
    assert (
        f"schema_version 99; this harness reads versions 1 to {RUN_JSON}"
        in report(str(wrong)).stderr
    )
    corrupt = tmp_path / "corrupt"
    (corrupt / "samples").mkdir(parents=True)
    (corrupt / "run.json").write_text((documented_run / "run.json").read_text())
    (corrupt / "samples" / "local.csv").write_text(
        "session_id,phase,start,duration_us,ok,error,attempt,worker\nx,ready,1.0,lots,1,,0,local\n"
    )
    assert "corrupt samples file" in report(str(corrupt)).stderr
    mangled = tmp_path / "mangled"
    mangled.mkdir()
    body = json.loads((documented_run / "run.json").read_text())
    body["samples"] = {"local": {"rows": 10}}  # edited by hand: no file
    (mangled / "run.json").write_text(json.dumps(body))
    assert "samples entry 'local' is not a file and a row count" in report(str(mangled)).stderr
    bad = tmp_path / "b.toml"
    bad.write_text('[phases.ready]\nchecks = ["p95 under 600ms"]\n')
    assert "is not a check" in report(str(documented_run), "--benchmarks", str(bad)).stderr


def test_warmup_is_left_out(documented_run: Path) -> None:
    run_harness("report", str(documented_run), "--warmup", "3")
    summary = json.loads((documented_run / "summary.json").read_text())
    assert (
        summary["analysis"]["warmup_s"] == 3 and summary["analysis"]["excluded_warmup_samples"] > 0
    )
