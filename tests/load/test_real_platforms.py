"""A load run as a team points it at a real platform: credentials in the URL, a token in the
query, handshake headers, secret-named environment variables with everyday values, a
self-signed certificate. Nothing secret reaches a file or the console; nothing else changes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.launch import locust_command
from tests.conftest import ROOT, RunningPlatform, harness_env, run_harness
from tests.test_probe import certificate  # noqa: F401  (a fixture)

SECRETS = ("PASSW0RD-9", "tok-query-77", "Bearer-cred-5531", "cookie-val-4242", "deploy-key-long")
EVERYDAY_SECRET_ENV = {
    "MIPTECH_AUTH_DELAY_MS": "100",  # our own setting: a delay, whatever its name says
    "SSO_AUTH_ENABLED": "true",
    "APP_API_TOKEN": "miptech",  # a short word: masked only as a whole value
    "LEGACY_AUTH_TIMEOUT": "10000",
    "DEPLOY_SECRET": "deploy-key-long",
}


def locust(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*locust_command(), "--reports-dir", str(tmp_path / "reports"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        env=harness_env(**env),
    )


def test_secrets_reach_no_output_and_everything_else_is_unchanged(
    tmp_path: Path, fast_platform: RunningPlatform
) -> None:
    host = fast_platform.base.replace("ws://", "ws://alice:PASSW0RD-9@")
    result = locust(
        tmp_path,
        "-u", "4", "-r", "4", "-t", "4s", "--think-time", "0.05,0.1",
        "--host", f"{host}/api/v1/ws/chat?token=tok-query-77",
        "--header", "Authorization: Bearer Bearer-cred-5531",
        "--header", "Cookie: sid=cookie-val-4242",
        "--run-id", "real", "--html", str(tmp_path / "locust.html"),
        **EVERYDAY_SECRET_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = tmp_path / "reports" / "runs" / "real"
    report = run_harness("report", str(run_dir), **EVERYDAY_SECRET_ENV)
    # a run of seconds has too few samples for a verdict (INVALID, 2); the files are written
    assert report.returncode in (0, 2) and "verdict:" in report.stdout, report.stderr
    console = result.stdout + result.stderr + report.stdout + report.stderr
    files = {p.name: p.read_text() for p in run_dir.rglob("*") if p.is_file()}
    files["locust.html"] = (tmp_path / "locust.html").read_text()  # Locust's own report
    assert {"run.json", "histograms.json", "summary.json", "report.html", "summary.md"} <= set(
        files
    )
    for secret in SECRETS:
        assert secret not in console, secret
        assert not [name for name, text in files.items() if secret in text], secret

    run = json.loads(files["run.json"])
    json.loads(files["histograms.json"])
    json.loads(files["summary.json"])
    settings = run["settings"]
    assert settings["ready_timeout_ms"] == 10000.0 and settings["auth_delay_ms"] == 100.0
    assert run["tls_verify"] is None and settings["tls_verify"] is True  # ws://: no TLS
    assert settings["tenant_id"] == "miptech-company"  # contains the secret 'miptech'
    assert settings["headers"] == [["Authorization", "****"], ["Cookie", "****"]]
    assert run["target"] == (
        f"ws://alice:****@127.0.0.1:{fast_platform.port}/api/v1/ws/chat?token=****"
    )
    assert (
        run["accounting"]["total"]["completed"] > 0
    )  # the query and headers did not break anything


def test_insecure_is_warned_on_the_console_and_in_the_report(
    tmp_path: Path,
    platform_factory: Callable[..., RunningPlatform],
    certificate: tuple[Path, Path],  # noqa: F811
) -> None:
    cert, key = certificate
    p = platform_factory("--profile", "fast", "--certfile", str(cert), "--keyfile", str(key))
    args = ("-u", "2", "-r", "2", "-t", "3s", "--think-time", "0.05,0.1", "--host", p.base)
    result = locust(tmp_path, *args, "--insecure", "--run-id", "insecure")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "harness: warning: TLS certificate verification is OFF" in result.stderr
    run_dir = tmp_path / "reports" / "runs" / "insecure"
    assert json.loads((run_dir / "run.json").read_text())["accounting"]["total"]["completed"] > 0
    run_harness("report", str(run_dir))
    assert 'id="tls-warning"' in (run_dir / "report.html").read_text()

    result = locust(tmp_path, *args, "--ca-bundle", str(cert), "--run-id", "verified")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warning: TLS" not in result.stderr


def test_a_rejected_command_leaves_no_run_directory_and_latest_where_it_was(
    tmp_path: Path, fast_platform: RunningPlatform
) -> None:
    ok = locust(tmp_path, "-u", "1", "-r", "1", "-t", "2s", "--host", fast_platform.base)
    assert ok.returncode == 0, ok.stderr[-2000:]
    runs = tmp_path / "reports" / "runs"
    before = (sorted(p.name for p in runs.iterdir()), (tmp_path / "reports" / "latest").resolve())
    bad = tmp_path / "garbage.pem"
    bad.write_text("garbage\n")
    for args in (
        ("--ca-bundle", str(bad)),
        ("--header", "no colon here"),
        ("--host", "ws://127.0.0.1:99999"),
        ("-t", "2s", "--run-time", "nonsense"),  # refused by Locust itself, after our init
    ):
        rejected = locust(tmp_path, "-u", "1", "-r", "1", "-t", "2s", *args)
        assert rejected.returncode != 0 and "Traceback" not in rejected.stderr, rejected.stderr
        after = (
            sorted(p.name for p in runs.iterdir()),
            (tmp_path / "reports" / "latest").resolve(),
        )
        assert after == before, args


BROKEN_LOCUSTFILE = """
from harness.load.coordinator import Coordinator
from locustfile import *  # noqa: F403

def broken(self, *args, **kwargs):
    raise RuntimeError("a bug of ours, at ws://u:PASSW0RD-9@h")

Coordinator.{method} = broken
"""


def run_broken(
    tmp_path: Path, method: str, platform: RunningPlatform, *args: str
) -> subprocess.CompletedProcess[str]:
    """A load run whose Coordinator.METHOD raises (a bug of ours, made on purpose)."""
    locustfile = tmp_path / "broken_locustfile.py"
    locustfile.write_text(BROKEN_LOCUSTFILE.format(method=method))
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
         "--reports-dir", str(tmp_path / "reports"), "--host", platform.base, *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env=harness_env(PYTHONPATH=str(ROOT)),
    )  # fmt: skip


@pytest.mark.parametrize("method", ["on_test_stopping", "_create_record"])
def test_a_bug_of_ours_under_locust_is_one_line_a_file_and_exit_3(
    tmp_path: Path, fast_platform: RunningPlatform, method: str
) -> None:
    result = run_broken(tmp_path, method, fast_platform, "-u", "1", "-r", "1", "-t", "2s")
    assert result.returncode == 3, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "internal error" in line]
    assert len(lines) == 1 and "RuntimeError" in lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert "PASSW0RD-9" not in result.stderr
    crash = Path(lines[0].rsplit("traceback in ", 1)[1].rstrip(")"))
    assert "Traceback" in crash.read_text() and "PASSW0RD-9" not in crash.read_text()
    crash.unlink()


def test_a_bug_of_ours_at_test_start_stops_the_run_at_once_and_records_nothing(
    tmp_path: Path, fast_platform: RunningPlatform
) -> None:
    """Lifecycles nobody records are no measurement: the run stops, it does not go on for
    its planned 30 s only to be thrown away."""
    started = time.monotonic()
    result = run_broken(tmp_path, "on_test_start", fast_platform, "-u", "2", "-r", "2", "-t", "30s")
    assert result.returncode == 3 and time.monotonic() - started < 15, result.stderr[-2000:]
    assert "the run stopped before it measured; nothing was recorded" in result.stdout
    assert list((tmp_path / "reports" / "runs").iterdir()) == []
    assert not (tmp_path / "reports" / "latest").exists()
    crash = result.stderr.split("traceback in ", 1)[1].split(")", 1)[0]
    Path(crash).unlink()
