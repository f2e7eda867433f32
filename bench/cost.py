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

import psutil

from harness.embedded import embedded_platform

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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--duration", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, embedded_platform("--profile", "fast") as platform:
        scenario = Path(tmp) / "cost.toml"
        scenario.write_text(
            "[users]\nchats_per_session = 1\npause_s = 0.5\n"
            f"[[stages]]\nduration_s = {args.duration}\nusers = {args.users}\n"
            f"spawn_rate = {args.users}\n"
        )
        cmd = [
            *(sys.executable, "-m", "locust", "-f", str(ROOT / "locustfile.py"), "--headless"),
            *("--only-summary", "--scenario", str(scenario), "--host", platform.base),
            *("--reports-dir", str(Path(tmp) / "reports")),
        ]
        harness = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.DEVNULL, text=True)
        harness_samples, _ = cpu_of(harness)
        run = json.loads((Path(tmp) / "reports" / "latest" / "run.json").read_text())
        done = run["accounting"]["total"]["completed"]
        rate = done / args.duration
        lean = subprocess.Popen(
            [sys.executable, "-c", LEAN, platform.base, str(rate), str(args.duration)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        lean_samples, out = cpu_of(lean)
        lean_done = json.loads(out.strip().splitlines()[-1])["completed"]
    # steady CPU per second / lifecycles per second = CPU per lifecycle
    h = steady_cpu_per_s(harness_samples, args.duration) / (done / args.duration)
    le = steady_cpu_per_s(lean_samples, args.duration) / (lean_done / args.duration)
    health = run["health"]
    print(
        f"cost, {args.users} looping harness users for {args.duration:g} s vs the lean asyncio "
        f"client at the same rate ({rate:.0f} lifecycles/s), one reference platform (fast)"
    )
    print(
        f"  harness: {done} lifecycles, {1e3 * h:.2f} ms CPU per lifecycle in steady state "
        f"(health valid: {health['valid']}, loop lag p99 {health['loop_lag_p99_ms']} ms)"
    )
    print(f"  lean:    {lean_done} lifecycles, {1e3 * le:.2f} ms CPU per lifecycle in steady state")
    print(f"  ratio harness / lean = {h / le:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
