"""Real load runs under faults: a worker killed, the master signalled (once and twice), two
runs side by side, a dead platform, a platform restarted mid-run, a full disk, a read-only
run directory, tampered samples, an unwritable reports directory.

Every test runs real processes for a few seconds (sized for a shared 2-core machine), bounds
each with a timeout, kills the process groups it started, and checks the accounting identity
of every run.json it reads: started == completed + failed + interrupted + lost, in total and
per worker.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.analysis.verdict import EXIT_CODES
from harness.launch import locust_command
from harness.load.coordinator import FINAL_WAIT_S
from harness.record.rundir import epoch_of
from harness.record.schema import SAMPLE_FIELDS
from tests.conftest import ROOT, RunningPlatform, free_port, harness_env, run_harness

LOCUST = locust_command()
SERVE = [sys.executable, "-m", "harness", "serve", "--host", "127.0.0.1"]
HEADER_BYTES = len(",".join(SAMPLE_FIELDS)) + 1  # a samples file's header line
NETWORK_CLASSES = {"dropped", "connection_refused"}
LAG_MS = "100"  # loop-lag tolerance: a shared 2-core machine, not a verdict on the platform


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Started:
    """A process started in its own session (its group id is its pid), output in files."""

    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def output(self) -> str:
        return self.stdout() + self.stderr()


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def started(cmd: list[str], logs: Path, name: str, cwd: Path = ROOT) -> Iterator[Started]:
    """Start `cmd` in a new session; on the way out kill its whole group (the master, its
    workers and an embedded platform alike) if anything is left."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    with out.open("wb") as o, err.open("wb") as e:
        process = subprocess.Popen(
            cmd, cwd=cwd, stdout=o, stderr=e, env=harness_env(), start_new_session=True
        )
    try:
        yield Started(process, out, err)
    finally:
        kill_group(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)


def start_locust(stack: contextlib.ExitStack, tmp: Path, name: str, *args: str) -> Started:
    return stack.enter_context(
        started([*LOCUST, *args], tmp / "logs", name, cwd=tmp),
    )


def locust_run(tmp: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A whole headless run, bounded by `timeout` (its process group killed on the way out)."""
    process = subprocess.Popen(
        [*LOCUST, *args],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=harness_env(),
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        kill_group(process.pid)
        process.wait(10)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def worker_processes(master: int) -> list[psutil.Process]:
    """The children of a `--processes` master that are its Locust workers, not the embedded
    reference platform (`python -m harness serve`)."""
    return [
        p
        for p in psutil.Process(master).children()
        if "serve" not in p.cmdline() and "harness" not in p.cmdline()
    ]


def worker_id_of(process: psutil.Process) -> str | None:
    """A worker's id, from the samples file it holds open (samples/<worker id>.csv)."""
    for f in process.open_files():
        path = Path(f.path)
        if path.parent.name == "samples" and path.suffix == ".csv":
            return path.stem
    return None


def wait_for(what: str, check: Any, timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


# -- run directories ---------------------------------------------------------------------------


def latest(reports: Path) -> Path:
    return (reports / "latest").resolve()


def read_run(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text())


def started_run(reports: Path) -> dict[str, Any] | None:
    """run.json once the run has started (users spawning), else None."""
    try:
        run = read_run(latest(reports))
    except (OSError, ValueError):
        return None
    return run if run.get("started") else None


def assert_accounting(run: dict[str, Any]) -> None:
    """started == completed + failed + interrupted + lost, in total and per worker, and the
    totals are the sum of the workers'."""
    accounting = run["accounting"]
    for who, acct in [("total", accounting["total"]), *accounting["workers"].items()]:
        failed = sum(acct["failed"].values())
        ended = acct["completed"] + failed + acct["interrupted"] + acct.get("lost", 0)
        assert acct["started"] == ended, (who, acct)
        assert acct["in_flight"] == 0, (who, acct)
    workers = accounting["workers"].values()
    for key in ("started", "completed", "interrupted", "lost"):
        assert accounting["total"][key] == sum(w.get(key, 0) for w in workers), key
    assert accounting["identity_holds"] is True


def data_rows(path: Path) -> int:
    """Whole rows after the header (a killed writer can leave half a last line)."""
    text = path.read_bytes()
    return max(0, text.count(b"\n") - 1)


def sample_workers(path: Path) -> set[str]:
    with path.open(newline="") as f:
        return {row["worker"] for row in csv.DictReader(f)}


@dataclass
class Report:
    code: int
    stdout: str
    stderr: str
    summary: dict[str, Any] | None


@dataclass
class Finished:
    """A run whose master has exited: its run directory, console and timing."""

    run_dir: Path
    stdout: str
    stderr: str
    code: int
    took: float  # seconds from the (first) signal, or the start, to the master's exit


def report(run_dir: Path, timeout: float = 120) -> Report:
    result = run_harness("report", str(run_dir), timeout=timeout)
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text()) if path.is_file() else None
    return Report(result.returncode, result.stdout, result.stderr, summary)


def assert_no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text[-3000:]


def verdict_line(text: str) -> str:
    found = re.search(r"^verdict: (\w+)$", text, re.M)
    assert found, text[-2000:]
    return found.group(1).lower()


def scenario(tmp: Path, name: str, text: str) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


def mount(*args: str) -> None:
    result = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=20)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here (mount {' '.join(args)}): {result.stderr.strip()}")


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=20)


# -- 1. a worker killed ------------------------------------------------------------------------

LOOPING = """
[users]
pause_s = 0.2
chats_per_session = 1
think_time_s = [0.05, 0.1]
[platform]
profile = 'fast'
[[stages]]
duration_s = {duration}
users = {users}
spawn_rate = {users}
"""


def test_a_worker_killed_mid_run_leaves_a_partial_but_complete_run(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    shape = scenario(tmp_path, "loop", LOOPING.format(duration=12, users=12))
    with contextlib.ExitStack() as stack:
        master = start_locust(
            stack,
            tmp_path,
            "master",
            *("--reports-dir", str(reports), "--scenario", str(shape)),
            *("--processes", "3", "--max-loop-lag-ms", LAG_MS),
        )
        run = wait_for("the run to start", lambda: started_run(reports), 30)
        run_dir = latest(reports)
        t0 = epoch_of(run["started"])
        assert t0 is not None and run["planned_s"] == 12
        planned_end = t0 + 12

        # samples reach the disk while the run goes on, not only at its end
        time.sleep(max(0.0, t0 + 5 - time.time()))
        assert master.process.poll() is None
        sizes = {p.name: p.stat().st_size for p in (run_dir / "samples").glob("*.csv")}
        assert len(sizes) == 3 and min(sizes.values()) > HEADER_BYTES, sizes

        workers = worker_processes(master.pid)
        assert len(workers) == 3, [p.cmdline() for p in psutil.Process(master.pid).children()]
        victim = workers[0]
        victim_id = worker_id_of(victim)
        assert victim_id is not None
        victim.kill()  # SIGKILL, no goodbye

        code = master.wait(45)
        exited = time.time()
    after_end = exited - planned_end
    print(f"worker killed: master exited {after_end:.1f} s after the planned end, code {code}")
    assert after_end < 15, after_end

    run = read_run(run_dir)
    assert run["status"] == "complete", run.get("stop_reason")
    assert run["ended"] and epoch_of(run["ended"]) is not None
    assert_accounting(run)
    [lost] = run["workers_lost"]
    assert lost["worker"] == victim_id
    assert lost["noticed_at"] and lost["last_report_at"], lost
    assert epoch_of(lost["noticed_at"]) is not None and epoch_of(lost["last_report_at"]) is not None

    # the lost worker's health as of its last report is judged with everyone else's
    victim_health = run["health"]["processes"][victim_id]
    assert victim_health["loop_lag_samples"] > 0 and victim_health["loop_lag_p99_ms"] is not None

    samples = run["samples"]
    assert set(samples) == set(run["accounting"]["workers"]) and len(samples) == 3
    for worker, s in samples.items():
        rows = data_rows(run_dir / s["file"])
        if worker == victim_id:
            assert s["closed"] is False
            assert rows >= s["rows"], (worker, rows, s)  # at least what it had reported
        else:
            assert s["closed"] is True and s["error"] is None, s
            assert rows == s["rows"], (worker, rows, s)
            assert sample_workers(run_dir / s["file"]) == {worker}

    result = report(run_dir)
    assert_no_traceback(result.stdout, result.stderr)
    summary = result.summary
    assert summary is not None
    assert result.code == EXIT_CODES[summary["verdict"]]
    assert verdict_line(result.stdout) == summary["verdict"]
    assert summary["partial"] is True
    assert [w["worker"] for w in summary["lost_workers"]] == [victim_id]
    lost_reasons = [
        r for r in summary["reasons"] if "lost" in r.lower() or victim_id in r or "partial" in r
    ]
    assert not lost_reasons, summary["reasons"]
    assert summary["verdict"] != "invalid", summary["reasons"]  # enough samples, valid health
    html = (run_dir / "report.html").read_text()
    [banner] = re.findall(r'<div class="banner[^>]*id="verdict">.*', html)
    assert "PARTIAL" in banner, banner


# -- 2, 3. the master signalled ----------------------------------------------------------------

TWO_WORKERS = (
    *("-u", "6", "-r", "6", "--processes", "2", "--platform-profile", "fast"),
    *("--chats-per-session", "2", "--think-time", "0.05,0.1", "--max-loop-lag-ms", LAG_MS),
)


def two_workers_running_for(
    stack: contextlib.ExitStack, tmp: Path, reports: Path, seconds: float
) -> Started:
    """A `--processes 2` run planned for 30 s, `seconds` into its measured part."""
    master = start_locust(
        stack, tmp, "master", "--reports-dir", str(reports), "-t", "30s", *TWO_WORKERS
    )
    run = wait_for("the run to start", lambda: started_run(reports), 30)
    t0 = epoch_of(run["started"])
    assert t0 is not None
    time.sleep(max(0.0, t0 + seconds - time.time()))
    return master


@pytest.mark.parametrize(
    "how",
    [
        "sigterm-master",
        "sigint-group",
    ],
)
def test_a_signal_mid_run_stops_the_run_and_keeps_its_record(tmp_path: Path, how: str) -> None:
    reports = tmp_path / "reports"
    with contextlib.ExitStack() as stack:
        master = two_workers_running_for(stack, tmp_path, reports, 6)
        assert master.process.poll() is None, master.output()[-2000:]
        signalled = time.monotonic()
        if how == "sigterm-master":
            os.kill(master.pid, signal.SIGTERM)
        else:  # Ctrl-C: the terminal signals the whole foreground process group
            os.killpg(master.pid, signal.SIGINT)
        code = master.wait(30)
        took = time.monotonic() - signalled
    print(f"{how}: master exited {took:.1f} s after the signal, code {code}")
    assert took < 15, took
    out = master.output()
    assert_no_traceback(out)

    run_dir = latest(reports)
    run = read_run(run_dir)
    assert run["status"] == "stopped", out[-3000:]
    assert run["ended"] and run["planned_s"] == 30
    assert 4 <= run["actual_s"] <= 9, run["actual_s"]
    assert_accounting(run)
    total = run["accounting"]["total"]
    assert total["started"] > 20
    # in flight when the signal came: interrupted, never a platform failure, nobody lost
    assert total["failed"] == {}, total
    assert run["workers_lost"] == [] and total["lost"] == 0, run["workers_lost"]
    assert total["interrupted_unexplained"] == 0, total
    assert len(run["accounting"]["workers"]) == 2
    for s in run["samples"].values():
        assert s["closed"] is True and data_rows(run_dir / s["file"]) == s["rows"], s

    result = report(run_dir)
    assert_no_traceback(result.stdout, result.stderr)
    assert result.summary is not None
    assert result.summary["verdict"] != "pass"
    assert result.code == 2, result.stdout  # the checks pass; a stopped run cannot
    assert "stopped after" in result.stdout, result.stdout


@pytest.fixture(scope="module")
def twice_sigtermed(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """A `--processes 2` run sent SIGTERM at 5 s, and again while it finishes."""
    tmp = tmp_path_factory.mktemp("twice")
    reports = tmp / "reports"
    with contextlib.ExitStack() as stack:
        master = two_workers_running_for(stack, tmp, reports, 5)
        signalled = time.monotonic()
        os.kill(master.pid, signal.SIGTERM)
        wait_for("Locust to take the first SIGTERM", lambda: "Got SIGTERM" in master.stderr(), 5)
        os.kill(master.pid, signal.SIGTERM)  # impatient: while it finishes the run
        code = master.wait(40)
        took = time.monotonic() - signalled
    print(f"two SIGTERMs: master exited {took:.1f} s after the first, code {code}")
    return Finished(latest(reports), master.stdout(), master.stderr(), code, took)


def test_a_second_sigterm_while_finishing_does_not_lose_the_run(twice_sigtermed: Finished) -> None:
    assert twice_sigtermed.took < 20, twice_sigtermed.took
    run = read_run(twice_sigtermed.run_dir)  # valid JSON: it parsed
    assert run["status"] in ("stopped", "complete"), twice_sigtermed.stdout[-3000:]
    assert run["status"] == "stopped" and run["planned_s"] == 30 and run["actual_s"] < 9
    assert run["ended"] and len(run["accounting"]["workers"]) == 2
    assert_accounting(run)
    assert run["accounting"]["total"]["failed"] == {}
    result = report(twice_sigtermed.run_dir)
    assert_no_traceback(result.stdout, result.stderr)
    assert result.summary is not None and result.summary["verdict"] != "pass"
    assert result.code == EXIT_CODES[result.summary["verdict"]]
    assert "stopped after" in result.stdout


def test_a_second_sigterm_leaves_a_clean_console(twice_sigtermed: Finished) -> None:
    out = twice_sigtermed.stdout + twice_sigtermed.stderr
    assert_no_traceback(out)
    assert out.count("Response time percentiles") == 1, out.count("Response time percentiles")
    assert twice_sigtermed.code == 0


# -- 4. two distributed runs at once -----------------------------------------------------------


@pytest.fixture(scope="module")
def two_at_once(
    tmp_path_factory: pytest.TempPathFactory, fast_platform: RunningPlatform
) -> dict[str, Finished]:
    """Two `--processes 2` runs started at the same moment against one platform."""
    tmp = tmp_path_factory.mktemp("two")
    args = (
        *("--host", fast_platform.base, "-u", "4", "-r", "4", "-t", "6s", "--processes", "2"),
        *("--chats-per-session", "1", "--max-loop-lag-ms", LAG_MS),
    )
    runs: dict[str, Started] = {}
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        for name in ("a", "b"):
            reports = tmp / name / "reports"
            runs[name] = start_locust(stack, tmp, name, "--reports-dir", str(reports), *args)
        codes = {name: process.wait(60) for name, process in runs.items()}
    took = time.monotonic() - began
    print(f"two runs at once: both finished {took:.1f} s after starting, codes {codes}")
    return {
        name: Finished(latest(tmp / name / "reports"), p.stdout(), p.stderr(), codes[name], took)
        for name, p in runs.items()
    }


def test_two_distributed_runs_at_once_keep_their_own_workers(
    two_at_once: dict[str, Finished],
) -> None:
    seen: list[set[str]] = []
    for finished in two_at_once.values():
        out = finished.stdout + finished.stderr
        assert_no_traceback(out)
        assert finished.code == 0, out[-3000:]
        assert "belongs to another run" not in out, out[-3000:]
        run = read_run(finished.run_dir)
        assert run["status"] == "complete", out[-3000:]
        assert_accounting(run)
        workers = set(run["samples"])
        assert len(workers) == 2 and set(run["accounting"]["workers"]) == workers, run["samples"]
        assert run["workers_lost"] == []
        files = sorted((finished.run_dir / "samples").glob("*.csv"))
        assert {f.stem for f in files} == workers
        for f in files:
            assert sample_workers(f) == {f.stem}
            assert data_rows(f) == run["samples"][f.stem]["rows"]
            assert run["samples"][f.stem]["closed"] is True
        assert all(w["started"] > 0 for w in run["accounting"]["workers"].values())
        seen.append(workers)
    assert not seen[0] & seen[1], seen


def test_a_distributed_run_that_ends_as_planned_has_no_stop_reason(
    two_at_once: dict[str, Finished],
) -> None:
    for finished in two_at_once.values():
        run = read_run(finished.run_dir)
        assert run["status"] == "complete"
        assert run["stop_reason"] is None, run["stop_reason"]


# -- 5. a dead platform ------------------------------------------------------------------------


def test_a_dead_platform_is_a_fail_not_a_flood(tmp_path: Path) -> None:
    host = f"ws://127.0.0.1:{free_port()}"
    reports = tmp_path / "reports"
    result = locust_run(
        tmp_path, "--reports-dir", str(reports), "--host", host, "-u", "20", "-r", "20", "-t", "8s"
    )
    assert_no_traceback(result.stdout, result.stderr)
    run_dir = latest(reports)
    run = read_run(run_dir)
    assert run["status"] == "complete"
    assert_accounting(run)
    total = run["accounting"]["total"]
    print(f"dead platform: {total['started']} lifecycles started by 20 users in 8 s")
    assert 20 <= total["started"] < 200, total
    assert set(total["failed"]) == {"connection_refused"}, total
    assert total["ready"] == 0 and total["completed"] == 0
    errors = {e for row in run["phases"].values() for e in row["errors_by_class"]}
    assert errors == {"connection_refused"}, run["phases"]

    outcome = report(run_dir)
    assert_no_traceback(outcome.stdout, outcome.stderr)
    assert outcome.summary is not None
    assert outcome.summary["verdict"] == "fail", outcome.summary["reasons"]
    assert outcome.code == 1, outcome.stdout
    assert verdict_line(outcome.stdout) == "fail"
    assert "connection_refused" in outcome.stdout


# -- 6. the platform killed and restarted ------------------------------------------------------

HELD = """
user_class = 'HeldSessionUser'
[users]
chat_interval_s = 1
[settings]
reconnect_delay_ms = 300
# attempts at +0.3, +0.9, +2.1, +4.5 s: the breaker must not open (for 60 s) before a
# loaded machine has the platform listening again
circuit_breaker_threshold = 5
[[stages]]
duration_s = 12
users = 10
spawn_rate = 10
"""


def serve_on(stack: contextlib.ExitStack, tmp: Path, port: int, name: str) -> Started:
    platform = stack.enter_context(
        started(
            [*SERVE, "--port", str(port), "--profile", "fast"],
            tmp / "logs",
            name,
        )
    )
    wait_for(f"{name} to listen", lambda: "listening on" in platform.stdout(), 20, 0.05)
    return platform


def test_a_platform_restart_mid_run_is_survived_by_reconnects(tmp_path: Path) -> None:
    port = free_port()
    reports = tmp_path / "reports"
    held = scenario(tmp_path, "held", HELD)
    with contextlib.ExitStack() as stack:
        first = serve_on(stack, tmp_path, port, "platform-1")
        master = start_locust(
            stack,
            tmp_path,
            "locust",
            *("--reports-dir", str(reports), "--scenario", str(held)),
            *("--host", f"ws://127.0.0.1:{port}", "--max-loop-lag-ms", LAG_MS),
        )
        run = wait_for("the run to start", lambda: started_run(reports), 30)
        t0 = epoch_of(run["started"])
        assert t0 is not None
        time.sleep(max(0.0, t0 + 4 - time.time()))
        os.killpg(first.pid, signal.SIGKILL)  # the platform dies without a close frame
        killed = time.monotonic()
        first.wait(10)
        time.sleep(1)
        serve_on(stack, tmp_path, port, "platform-2")
        down = time.monotonic() - killed
        master.wait(45)
    out = master.output()
    assert_no_traceback(out)
    run_dir = latest(reports)
    run = read_run(run_dir)
    assert run["status"] == "complete", out[-3000:]
    assert_accounting(run)
    total = run["accounting"]["total"]
    phases = run["phases"]
    print(
        f"platform restart: down {down:.1f} s; reconnects {total['reconnects']}, reconnect "
        f"phase {phases.get('reconnect', {}).get('count')} samples, failed {total['failed']}, "
        f"phase errors { {p: r['errors_by_class'] for p, r in phases.items() if r['errors']} }"
    )
    assert total["reconnects"] > 0, total
    assert "reconnect" in phases, phases
    assert phases["reconnect"]["count"] == 10, phases  # every held session came back once
    assert total["reconnects"] >= phases["reconnect"]["count"]
    assert set(total["failed"]) <= NETWORK_CLASSES, total["failed"]
    assert total["harness_errors"] == {} and total["protocol_violations"] == {}, total
    errors = {e for row in phases.values() for e in row["errors_by_class"]}
    assert errors <= NETWORK_CLASSES, phases
    assert "harness_error" not in out and "protocol_error" not in out

    result = report(run_dir)
    assert_no_traceback(result.stdout, result.stderr)
    assert result.summary is not None
    assert result.code == EXIT_CODES[result.summary["verdict"]]
    failed = result.summary["lifecycles"]["failed"]
    assert "harness_error" not in failed and "protocol_error" not in failed


# -- 7. a full disk ----------------------------------------------------------------------------


@dataclass
class FullDisk:
    locust: subprocess.CompletedProcess[str]
    took: float
    run: dict[str, Any]  # run.json as the full disk kept it
    report: Report  # `harness report` on the full disk
    copy: Path  # the run directory, copied off the full disk


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory: pytest.TempPathFactory) -> FullDisk:
    """A run whose --reports-dir is a 400 KiB tmpfs that its samples fill in seconds."""
    tmp = tmp_path_factory.mktemp("full")
    disk = tmp / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk))
    try:
        began = time.monotonic()
        result = locust_run(
            tmp,
            *("--reports-dir", str(disk / "reports"), "--platform-profile", "fast"),
            *("-u", "30", "-r", "30", "-t", "20s", "--chats-per-session", "3"),
            *("--think-time", "0.01,0.02", "--max-loop-lag-ms", LAG_MS),
            timeout=60,
        )
        took = time.monotonic() - began
        print(f"full disk: locust exited with {result.returncode} after {took:.1f} s")
        run_dir = latest(disk / "reports")
        run = read_run(run_dir)  # valid JSON, whichever version it is
        outcome = report(run_dir)
        copy = shutil.copytree(run_dir, tmp / "copy" / run_dir.name)
    finally:
        umount(disk)
    return FullDisk(result, took, run, outcome, copy)


def test_a_full_disk_stops_the_run_with_one_line_and_exit_2(full_disk: FullDisk) -> None:
    result = full_disk.locust
    out = result.stdout + result.stderr
    assert_no_traceback(result.stdout, result.stderr)
    assert result.returncode == 2, out[-3000:]
    assert full_disk.took < 18, full_disk.took  # well before the planned 20 s (and start-up)
    errors = [line for line in out.splitlines() if line.startswith("harness: error:")]
    assert len(errors) == 1, errors
    assert "no space" in errors[0].lower(), errors
    run = full_disk.run
    assert run["run_id"] == full_disk.copy.name
    if "accounting" in run:
        assert_accounting(run)
    rows = data_rows(full_disk.copy / "samples" / "local.csv")
    assert rows > 1000, rows  # whole rows up to the full disk stay

    outcome = full_disk.report
    assert_no_traceback(outcome.stdout, outcome.stderr)
    assert outcome.code == 2, outcome.stdout + outcome.stderr
    if outcome.summary is None and "verdict:" not in outcome.stdout:
        lines = outcome.stderr.strip().splitlines()  # refused: one line
        assert len(lines) == 1 and lines[0].startswith("harness report: error:"), lines
    else:
        assert verdict_line(outcome.stdout) == "invalid"
        reasons = [line for line in outcome.stdout.splitlines() if line.startswith("  - ")]
        assert reasons, outcome.stdout


def test_report_on_a_run_cut_short_by_a_full_disk_says_it_did_not_finish(
    full_disk: FullDisk,
) -> None:
    assert full_disk.run["status"] in ("starting", "running")  # its final version never fit
    result = report(full_disk.copy)  # off the full disk: the report's files can be written
    assert_no_traceback(result.stdout, result.stderr)
    assert result.code == 2
    assert result.summary is not None and result.summary["verdict"] == "invalid", result.stderr
    assert any("did not finish" in r for r in result.summary["reasons"]), result.summary


# -- 8, 9. reporting on a read-only or tampered run --------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished single-process run (fast profile, a few seconds, enough samples for the
    checks); tests copy it before changing anything."""
    tmp = tmp_path_factory.mktemp("finished")
    result = locust_run(
        tmp,
        *("--reports-dir", str(tmp / "reports"), "--platform-profile", "fast"),
        *("-u", "10", "-r", "10", "-t", "5s", "--max-loop-lag-ms", LAG_MS),
        *("--chats-per-session", "1"),  # short lifecycles: enough samples for a pass
    )
    run_dir = latest(tmp / "reports")
    run = read_run(run_dir)
    assert run["status"] == "complete", result.stderr[-3000:]
    assert_accounting(run)
    return run_dir


def copy_run(run_dir: Path, tmp: Path) -> Path:
    target = tmp / "runs" / run_dir.name
    shutil.copytree(run_dir, target)
    return target


def test_report_on_a_read_only_run_prints_the_summary(tmp_path: Path, finished_run: Path) -> None:
    writable = copy_run(finished_run, tmp_path / "rw")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    mount("--bind", str(writable), str(readonly))
    try:
        mount("-o", "remount,ro,bind", str(readonly))
        with pytest.raises(OSError):
            (readonly / "probe").write_text("x")
        result = report(readonly)
        assert_no_traceback(result.stdout, result.stderr)
        assert result.summary is None  # nothing could be written
        assert "read-only file system" in result.stdout and "summary follows" in result.stdout
        assert "| phase" in result.stdout or "p95" in result.stdout, result.stdout
        verdict = verdict_line(result.stdout)
        assert result.code == EXIT_CODES[verdict], result.stdout
    finally:
        umount(readonly)
    # the same run, writable: the same verdict and exit code
    again = report(writable)
    assert again.summary is not None
    assert again.summary["verdict"] == verdict and again.code == result.code
    assert verdict == "pass", again.summary["reasons"]
    assert_accounting(read_run(writable))


def test_a_truncated_samples_file_makes_the_run_invalid(tmp_path: Path, finished_run: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    samples = run_dir / "samples" / "local.csv"
    recorded = read_run(run_dir)["samples"]["local"]["rows"]
    lines = samples.read_bytes().splitlines(keepends=True)
    assert len(lines) - 1 == recorded and recorded > 10
    samples.write_bytes(b"".join(lines[:-3]))  # three whole rows gone, still ends in "\n"
    assert samples.read_bytes().endswith(b"\n")
    result = report(run_dir)
    assert_no_traceback(result.stdout, result.stderr)
    assert result.code == 2, result.stdout
    assert result.summary is not None and result.summary["verdict"] == "invalid"
    [reason] = [r for r in result.summary["reasons"] if "local.csv" in r]
    assert str(recorded - 3) in reason and str(recorded) in reason, reason
    assert reason in result.stdout
    assert_accounting(read_run(run_dir))


def test_a_deleted_samples_file_makes_the_run_invalid(tmp_path: Path, finished_run: Path) -> None:
    run_dir = copy_run(finished_run, tmp_path)
    (run_dir / "samples" / "local.csv").unlink()
    result = report(run_dir)
    assert_no_traceback(result.stdout, result.stderr)
    assert result.code == 2, result.stdout + result.stderr
    assert result.summary is not None and result.summary["verdict"] == "invalid"
    [reason] = [r for r in result.summary["reasons"] if "local.csv" in r]
    assert "missing" in reason, reason
    assert_accounting(read_run(run_dir))


# -- 10. an unwritable reports directory -------------------------------------------------------


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], reports: Path) -> None:
    out = result.stdout + result.stderr
    assert_no_traceback(result.stdout, result.stderr)
    assert result.returncode == 2, out[-3000:]
    errors = [line for line in out.splitlines() if line.startswith("harness: error:")]
    assert len(errors) == 1, out[-3000:]
    assert str(reports) in errors[0], errors
    assert "reference platform" not in out  # it stopped before starting anything


def test_a_reports_dir_under_a_regular_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory\n")
    reports = tmp_path / "file" / "reports"
    result = locust_run(
        tmp_path, "--reports-dir", str(reports), "-u", "1", "-r", "1", "-t", "3s", timeout=30
    )
    assert_one_line_exit_2(result, reports)
    assert "not a directory" in result.stderr


def test_a_read_only_reports_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    reports = tmp_path / "ro-reports"
    reports.mkdir()
    mount("-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(reports))
    try:
        result = locust_run(
            tmp_path, "--reports-dir", str(reports), "-u", "1", "-r", "1", "-t", "3s", timeout=30
        )
        assert_one_line_exit_2(result, reports)
        assert "read-only" in result.stderr
    finally:
        umount(reports)


def test_a_master_that_gives_up_waiting_for_workers_says_nothing_was_recorded(
    tmp_path: Path,
) -> None:
    """Locust's master ends the process from a greenlet when --expect-workers do not come
    (no `quitting` event): the harness still finishes, in one line, and leaves no half-made
    run directory behind."""
    reports = tmp_path / "reports"
    done = locust_run(
        tmp_path, "--master", "--expect-workers", "1", "--expect-workers-max-wait", "1",
        "--master-bind-port", str(free_port()), "-u", "2", "-r", "2", "-t", "4s",
        "--platform-profile", "fast", "--reports-dir", str(reports),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "harness: no test ran; nothing was recorded" in done.stdout, done.stdout
    assert "Gave up waiting for workers" in done.stderr
    assert_no_traceback(done.stdout, done.stderr)
    assert not (reports / "latest").exists() and not any((reports / "runs").iterdir())


def test_a_worker_of_another_run_does_not_join(tmp_path: Path) -> None:
    """A stray worker (another run's token, as an orphan of a failed `--processes` run would
    carry) reaches this run's master: it says so in one line and quits with exit 2; the
    master has no samples and no lifecycles of it."""
    port = free_port()
    reports = tmp_path / "reports"
    with contextlib.ExitStack() as stack:
        master = start_locust(
            stack, tmp_path, "master", "--master", "--expect-workers", "1",
            "--expect-workers-max-wait", "8", "--master-bind-port", str(port),
            "-u", "2", "-r", "2", "-t", "4s", "--platform-profile", "fast",
            "--reports-dir", str(reports),
        )  # fmt: skip
        worker = subprocess.run(
            [*LOCUST[: LOCUST.index("--headless")], "--worker", "--master-port", str(port)],
            cwd=tmp_path, capture_output=True, text=True, timeout=30,
            env=harness_env(HARNESS_RUN_TOKEN="another-run"),
        )  # fmt: skip
        code = master.wait(30)
    assert worker.returncode == 2, worker.stdout + worker.stderr
    errors = [line for line in worker.stderr.splitlines() if line.startswith("harness: error:")]
    assert len(errors) == 1 and "belongs to another run" in errors[0], worker.stderr
    assert_no_traceback(worker.stdout, worker.stderr)
    if not (reports / "latest").exists():
        # The stray was turned away before the master's first look for workers: it gave up
        # waiting (Locust's exit from a greenlet, without `quitting`) and says so.
        assert code == 1 and "no test ran; nothing was recorded" in master.stdout(), master.output()
        assert not any((reports / "runs").iterdir())
        return
    run = read_run(latest(reports))
    assert run["samples"] == {}  # it never wrote into this run
    assert all(w["started"] == 0 for w in run["accounting"]["workers"].values())


SLOW_TO_STOP = """
import gevent
from locust import events
from locust.runners import WorkerRunner

from locustfile import *  # noqa: F403


@events.test_stop.add_listener
def slow_to_stop(environment, **_):
    if isinstance(environment.runner, WorkerRunner):
        gevent.sleep({seconds})  # heartbeats go on: a worker still stopping its users
"""


def test_a_worker_slow_to_stop_is_waited_for_not_lost(tmp_path: Path) -> None:
    """A worker that sends heartbeats but takes longer than FINAL_WAIT_S to send its final
    figures (four workers stopping 12,500 users each on two cores did) is waited for, with
    a progress line: its figures count whole and the run is not partial. Before, it was
    taken for lost at 10 s and its lifecycles counted lost."""
    locustfile = tmp_path / "slow_locustfile.py"
    locustfile.write_text(SLOW_TO_STOP.format(seconds=FINAL_WAIT_S + 3))
    reports = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
         "--processes", "2", "-u", "4", "-r", "4", "-t", "3s", "--platform-profile", "fast",
         "--reports-dir", str(reports)],
        cwd=tmp_path, capture_output=True, text=True, timeout=90,
        env=harness_env(PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "harness: waiting for the final figures of 2 worker(s)" in done.stdout, done.stdout
    assert "lost" not in done.stdout.replace("lost 0", ""), done.stdout
    run = read_run(latest(reports))
    assert run["workers_lost"] == [] and run["accounting"]["total"]["lost"] == 0
    assert_accounting(run)
    assert run["accounting"]["total"]["started"] > 0
