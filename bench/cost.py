"""Cost: harness CPU seconds per full lifecycle, against a lean asyncio client, side by side.

    python -m bench.cost [--users 100] [--duration 20]

One `serve --profile fast` for both. First the harness (Locust LifecycleUser, one chat per
lifecycle) runs for `duration`; then the lean asyncio client (bench/lean_client.py) runs at
the lifecycle rate the harness achieved, for the same time. Each side's CPU time (user +
system, the whole process) is divided by the lifecycles it completed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from harness.embedded import embedded_platform
from harness.launch import locust_command
from harness.record.runfile import read_run_json

ROOT = Path(__file__).resolve().parent.parent
LEAN = """
import asyncio, json, sys, time, uvloop
from bench import lean_client
tally = uvloop.run(lean_client.run_rate(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), True))
print(json.dumps({"completed": tally.completed, "failed": tally.failed}))
"""


def cpu_of(process: subprocess.Popen[str]) -> tuple[list[tuple[float, float]], str]:
    """Wait for the process, sampling its CPU seconds (user + system); samples and stdout."""
    ps = psutil.Process(process.pid)
    samples: list[tuple[float, float]] = []
    while process.poll() is None:
        try:
            t = ps.cpu_times()
            samples.append((time.monotonic(), t.user + t.system))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    out, _ = process.communicate()
    return samples, out


def steady_cpu_per_s(samples: list[tuple[float, float]], duration: float) -> float:
    """CPU seconds per second over the middle of the load (start-up and shutdown left out):
    the load is the last `duration` s before the process ended, minus a margin each side."""
    end = samples[-1][0]
    lo, hi = end - duration * 0.85, end - duration * 0.1
    window = [s for s in samples if lo <= s[0] <= hi]
    (t0, c0), (t1, c1) = window[0], window[-1]
    return (c1 - c0) / (t1 - t0)


def harness_run(
    tmp: Path, base: str, users: int, duration: float, *extra: str
) -> tuple[float, int, dict[str, Any]]:
    """A Locust run of looping users; (steady CPU per second, lifecycles, its health)."""
    folder = Path(tempfile.mkdtemp(dir=tmp))
    scenario = folder / "cost.toml"
    scenario.write_text(
        "[users]\nchats_per_session = 1\npause_s = 0.5\n"
        f"[[stages]]\nduration_s = {duration}\nusers = {users}\nspawn_rate = {users}\n"
    )
    cmd = locust_command(
        "--only-summary",
        "--scenario",
        str(scenario),
        "--host",
        base,
        "--reports-dir",
        str(folder / "reports"),
        *extra,
    )
    samples, _ = cpu_of(subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL, text=True))
    run = read_run_json(folder / "reports" / "latest")
    return (
        steady_cpu_per_s(samples, duration),
        run["accounting"]["total"]["completed"],
        run["health"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--duration", type=float, default=20)
    args = parser.parse_args()
    d = args.duration
    with tempfile.TemporaryDirectory() as tmp, embedded_platform("--profile", "fast") as platform:
        live_cpu, done, health = harness_run(Path(tmp), platform.base, args.users, d)
        quiet_cpu, quiet_done, _ = harness_run(
            Path(tmp), platform.base, args.users, d, "--no-locust-stats"
        )
        rate = done / d
        lean = subprocess.Popen(
            [sys.executable, "-c", LEAN, platform.base, str(rate), str(d)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        lean_samples, out = cpu_of(lean)
        lean_done = json.loads(out.strip().splitlines()[-1])["completed"]
    # steady CPU per second / lifecycles per second = CPU per lifecycle
    h = live_cpu / (done / d)
    q = quiet_cpu / (quiet_done / d)
    le = steady_cpu_per_s(lean_samples, d) / (lean_done / d)
    print(
        f"cost, {args.users} looping harness users for {d:g} s vs the lean asyncio client at "
        f"the same rate ({rate:.0f} lifecycles/s), one reference platform (fast)"
    )
    print(
        f"  harness:                    {done} lifecycles, {1e3 * h:.2f} ms CPU per lifecycle "
        f"(health valid: {health['valid']}, loop lag p99 {health['loop_lag_p99_ms']} ms)"
    )
    print(
        f"  harness --no-locust-stats:  {quiet_done} lifecycles, {1e3 * q:.2f} ms CPU per lifecycle"
    )
    print(
        f"  lean:                       {lean_done} lifecycles, {1e3 * le:.2f} ms CPU per lifecycle"
    )
    print(f"  ratio harness / lean = {h / le:.2f}; --no-locust-stats {q / le:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
