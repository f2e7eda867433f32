"""Cost: harness CPU seconds per full lifecycle against a lean asyncio client, side by side,
at four loads.

    python -m bench.cost [--runs 1] [--duration 15] [--loads closed30,closed60,closed200,low]

One `serve --profile fast` for everything. At each load the harness (Locust LifecycleUsers,
one 80-character chat per lifecycle) runs for `duration`, then the lean client (bench/
lean_client.py: python-websockets on uvloop, nothing but the lifecycle) does the same work:

- closedN: N users looping lifecycles back to back, no pause (closed model), on both sides;
- low: 100 harness users pausing 0.5 s between lifecycles, and the lean client starting
  lifecycles at the rate the harness achieved (open model).

Each side's steady CPU time (user + system, whole process, start-up and shutdown left out)
is divided by the lifecycles it completed; the ratio is harness / lean, the median over
`runs` side-by-side runs. The target is a ratio at or under 1.0 at every load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench import positive
from harness.embedded import embedded_platform
from harness.launch import locust_command
from harness.record.runfile import read_run_json

ROOT = Path(__file__).resolve().parent.parent
LEAN = """
import asyncio, json, sys, time, uvloop
from bench import lean_client
mode, base, amount, duration = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
run = lean_client.run_closed(base, int(amount), duration, True) if mode == "closed" else (
    lean_client.run_rate(base, amount, duration, True))
tally = uvloop.run(run)
print(json.dumps({"completed": tally.completed, "failed": tally.failed}))
"""
LOADS = {"closed30": (30, 0.0), "closed60": (60, 0.0), "closed200": (200, 0.0), "low": (100, 0.5)}


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
    tmp: Path, base: str, users: int, pause: float, duration: float
) -> tuple[float, int, dict[str, Any]]:
    """A Locust run of looping users; (steady CPU per second, lifecycles, its health)."""
    folder = Path(tempfile.mkdtemp(dir=tmp))
    scenario = folder / "cost.toml"
    scenario.write_text(
        f"[users]\nchats_per_session = 1\nmessage_length = 80\npause_s = {pause}\n"
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
    )
    process = subprocess.Popen(
        cmd, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    samples, _ = cpu_of(process)
    run = read_run_json(folder / "reports" / "latest")
    return (
        steady_cpu_per_s(samples, duration),
        run["accounting"]["total"]["completed"],
        run["health"],
    )


def lean_run(base: str, mode: str, amount: float, duration: float) -> tuple[float, int]:
    """The lean client: (steady CPU per second, lifecycles)."""
    lean = subprocess.Popen(
        [sys.executable, "-c", LEAN, mode, base, str(amount), str(duration)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    samples, out = cpu_of(lean)
    return steady_cpu_per_s(samples, duration), json.loads(out.strip().splitlines()[-1])[
        "completed"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__)
    parser.add_argument("--runs", type=positive(int), default=1)
    parser.add_argument("--duration", type=positive(float), default=15)
    parser.add_argument("--loads", default=",".join(LOADS), help=", ".join(LOADS))
    args = parser.parse_args()
    d = args.duration
    loads = [name.strip() for name in args.loads.split(",")]
    unknown = [name for name in loads if name not in LOADS]
    if unknown:
        parser.error(f"--loads: no load {', '.join(unknown)} (there are {', '.join(LOADS)})")
    print(
        f"cost: CPU per lifecycle, harness / lean asyncio client, {args.runs} side-by-side "
        f"run(s) of {d:g} s a load, one reference platform (fast)"
    )
    with tempfile.TemporaryDirectory() as tmp, embedded_platform("--profile", "fast") as platform:
        for name in loads:
            users, pause = LOADS[name]
            ratios, rows, valid = [], [], 0
            for _ in range(args.runs):
                cpu, done, health = harness_run(Path(tmp), platform.base, users, pause, d)
                if pause:  # open model at the harness's rate
                    lean_cpu, lean_done = lean_run(platform.base, "rate", done / d, d)
                else:
                    lean_cpu, lean_done = lean_run(platform.base, "closed", users, d)
                h, le = cpu / (done / d), lean_cpu / (lean_done / d)  # CPU s per lifecycle
                ratios.append(h / le)
                valid += bool(health["valid"])
                saturated = "" if health["valid"] else ", harness saturated: run INVALID"
                rows.append(
                    f"harness {1e3 * h:.2f} ms ({done / d:.0f}/s, lag p99 "
                    f"{health['loop_lag_p99_ms']} ms{saturated}), lean {1e3 * le:.2f} ms "
                    f"({lean_done / d:.0f}/s): {h / le:.2f}"
                )
            what = f"{users} users, pause {pause:g} s" if pause else f"{users} closed-loop users"
            print(
                f"  {name} ({what}): ratio {statistics.median(ratios):.2f} (target <= 1.0; "
                f"{valid} of {args.runs} harness runs valid)"
            )
            for row in rows:
                print(f"    {row}")


if __name__ == "__main__":
    main()
