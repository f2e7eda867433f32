"""A real small nightly (two short trials) against the reference platform."""

from __future__ import annotations

import json
from pathlib import Path

from harness.embedded import start_platform
from tests.conftest import free_port, harness_env, run_harness

# The [health] tolerance is raised: this test is about the regression verdict, and on a
# shared 2-core machine a trial's loop lag reached 12.8 ms once (CI), making the night INVALID.
SCENARIO = """
user_class = "LifecycleUser"
[health]
max_loop_lag_ms = 100
[users]
chats_per_session = 0
pause_s = 0.2
[[stages]]
duration_s = 10
users = 40
spawn_rate = 40
"""


def night(tmp_path: Path, profile: str, port: int) -> tuple[int, str]:
    """One nightly (2 trials) against `serve --profile PROFILE` on a fixed port."""
    platform = start_platform(
        "--profile", profile, "--port", str(port), "--seed", "3", env=harness_env()
    )
    try:
        result = run_harness(
            "nightly", "--trials", "2", "--scenario", str(tmp_path / "nightly.toml"),
            "--host", platform.base, "--warmup", "1", "--reports-dir", str(tmp_path / "reports"),
            timeout=180,
        )  # fmt: skip
    finally:
        platform.stop()
    return result.returncode, result.stdout + result.stderr


def test_nightly_against_documented_then_degraded(tmp_path: Path) -> None:
    (tmp_path / "nightly.toml").write_text(SCENARIO)
    port = free_port()
    code, out = night(tmp_path, "documented", port)
    assert code == 2 and "no baseline yet" in out, out
    runs = out.split("python -m harness baseline set ", 1)[1].split()
    assert len(runs) == 2
    result = run_harness(
        "baseline", "set", *runs, "--reports-dir", str(tmp_path / "reports"), "--warmup", "1"
    )
    assert result.returncode == 0, result.stderr

    code, out = night(tmp_path, "documented", port)
    assert code == 0, out
    assert "NO REGRESSION" in out

    code, out = night(tmp_path, "degraded", port)
    assert code == 1, out
    assert "regression: platform_init" in out or "regression: ready" in out

    nights = sorted((tmp_path / "reports" / "nights").iterdir())
    assert len(nights) == 2
    last = json.loads((nights[-1] / "night.json").read_text())
    assert last["verdict"] == "regression" and last["replicates"] == "blocks"
    assert any(c["verdict"] == "regression" and c["ratio"] > 1.1 for c in last["changes"])
    assert "<failure" in (nights[-1] / "junit.xml").read_text()
    assert "REGRESSION" in (nights[-1] / "summary.md").read_text()
    page = (nights[-1] / "night.html").read_text()
    assert 'href="../../history/trends.html"' in page and "regression" in page
    history = sorted((tmp_path / "reports" / "history").glob("*.json"))
    assert len(history) == 2
    trends = (tmp_path / "reports" / "history" / "trends.html").read_text()
    assert trends.count("<img") >= 3


def run_info(scenario: str, valid: bool = True) -> dict[str, object]:
    reasons = [] if valid else ["process local: event-loop lag p99 80.0 ms > tolerance 10 ms"]
    return {
        "schema_version": 1,
        "scenario": scenario,
        "target": "ws://x:1",
        "health": {"valid": valid, "reasons": reasons},
    }


def write_run(folder: Path, scenario: str, valid: bool = True) -> None:
    (folder / "samples").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(run_info(scenario, valid)))
    (folder / "samples" / "local.csv").write_text(
        "session_id,phase,start,duration_us,ok,error,attempt,worker\n"
        + "".join(f"s{i},ready,{i}.0,{500000 + i},1,,0,local\n" for i in range(50))
    )


def test_saturated_runs_are_neither_a_baseline_nor_compared(tmp_path: Path) -> None:
    good, saturated = tmp_path / "good", tmp_path / "saturated"
    write_run(good, "nightly")
    write_run(saturated, "nightly", valid=False)
    for args in (
        ["baseline", "set", str(saturated), "--reports-dir", str(tmp_path / "r")],
        ["compare", str(good), str(saturated)],
    ):
        result = run_harness(*args)
        assert result.returncode == 2, result
        assert "not a valid run to compare (process local: event-loop lag p99" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "baseline" / "baseline.json").exists()


def test_compare_refuses_mismatched_set_ups(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, "smoke")
    write_run(b, "baseline")
    result = run_harness("compare", str(a), str(b))
    assert result.returncode == 2
    assert (
        "refusing to compare runs of different set-ups: baseline is scenario 'smoke'"
        in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1
