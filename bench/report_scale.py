"""Analysis at scale: `harness report` on a run of N raw phase samples (default 10 million).

    python -m bench.report_scale [--samples 10000000]

Writes a synthetic run directory (two workers' sample files, documented-profile timings,
a few errors), then times `python -m harness report` on it as a child process and reports
its wall time and peak memory (the child's max RSS). Generation is not timed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harness.record.schema import PHASES as PHASE_ORDER

PHASES = tuple(p for p in PHASE_ORDER if p != "reconnect")


def make_run(run_dir: Path, samples: int) -> None:
    rng = np.random.default_rng(7)
    lifecycles = samples // len(PHASES)
    t0 = 1_800_000_000.0
    duration = 3600.0
    (run_dir / "samples").mkdir(parents=True)
    for w in range(2):
        n = lifecycles // 2
        starts = np.sort(rng.uniform(t0, t0 + duration, n))
        init = np.clip(rng.normal(400_000, 45_000, n), 300_000, 500_000)
        durations = {
            "connect": rng.uniform(1_000, 5_000, n),
            "auth_delay": rng.uniform(100_000, 102_000, n),
            "platform_init": init,
            "ready": init + 103_000,
            "chat_first": rng.normal(150_000, 2_000, n),
            "chat_gap": rng.lognormal(np.log(40_000), 0.5, n),
            "chat_complete": rng.normal(272_000, 3_000, n),
            "heartbeat": rng.uniform(200, 900, n),
        }
        ids = pd.Series(rng.integers(0, 2**62, n)).map("{:016x}-harness-session".format)
        frames = []
        for phase in PHASES:
            ok = rng.random(n) > 0.001
            frames.append(
                pd.DataFrame(
                    {
                        "session_id": ids,
                        "phase": phase,
                        "start": starts.round(6),
                        "duration_us": durations[phase].astype(np.int64),
                        "ok": ok.astype(int),
                        "error": np.where(ok, "", "dropped"),
                        "attempt": 0,
                        "worker": f"w{w}",
                    }
                )
            )
        pd.concat(frames).to_csv(run_dir / "samples" / f"w{w}.csv", index=False)
    started = lifecycles // 2 * 2
    run = {
        "schema_version": 1,
        "run_id": "synthetic-10m",
        "status": "complete",
        "scenario": "soak",
        "target": "ws://127.0.0.1:1",
        "tls_verify": True,
        "started": pd.Timestamp(t0, unit="s", tz="UTC").isoformat().replace("+00:00", "Z"),
        "ended": pd.Timestamp(t0 + duration, unit="s", tz="UTC").isoformat().replace("+00:00", "Z"),
        "accounting": {
            "total": {
                "started": started,
                "ready": started,
                "completed": started,
                "failed": {},
                "interrupted": 0,
                "in_flight": 0,
                "reconnects": 0,
            }
        },
        "health": {
            "valid": True,
            "reasons": [],
            "loop_lag_p99_ms": 2.0,
            "cpu_max_pct": 50.0,
            "loop_lag_tolerance_ms": 10.0,
            "processes": {},
        },
    }
    (run_dir / "run.json").write_text(json.dumps(run))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report_scale", description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        t = time.perf_counter()
        make_run(run_dir, args.samples)
        size = sum(p.stat().st_size for p in (run_dir / "samples").iterdir()) / 2**20
        took = time.perf_counter() - t
        print(f"generated {args.samples:,} samples ({size:.0f} MB of CSV) in {took:.0f} s")
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "harness", "report", str(run_dir)],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    said = result.stdout.splitlines()[0] if result.stdout else result.stderr.strip()
    print(
        f"harness report: {wall:.1f} s wall, peak memory {peak_mb:.0f} MB "
        f"(targets: <= 30 s, <= 2048 MB); exit {result.returncode}, {said}"
    )


if __name__ == "__main__":
    main()
