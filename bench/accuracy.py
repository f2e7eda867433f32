"""Accuracy: the harness's `platform_init` against the platform's own ground truth.

    python -m bench.accuracy looping [--users 500] [--duration 30]
    python -m bench.accuracy held [--users 5000] [--spawn-rate 500]

Runs a real Locust load run against the embedded reference platform (profile fast, a fixed
platform-init delay, ground truth on), then joins the harness's raw `platform_init` samples
with the platform's auth -> ready times on session_id and prints the distribution of the
difference (harness minus platform: the network, the kernel and the harness's own delay).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.stats import percentile
from harness.launch import locust_command
from harness.record.runfile import read_run_json, sample_files
from harness.record.samples import read_chunks
from harness.server.groundtruth import read_ground_truth


def run(
    kind: str,
    users: int,
    spawn_rate: float,
    duration: float,
    init_ms: float,
    pause_s: float,
    processes: int,
    platform_workers: int,
    work: Path,
) -> Path:
    scenario = work / f"accuracy-{kind}.toml"
    user_class = "HeldSessionUser" if kind == "held" else "LifecycleUser"
    scenario.write_text(
        f"user_class = '{user_class}'\n"
        f"[users]\nchats_per_session = 1\nthink_time_s = [0.5, 1.0]\npause_s = {pause_s}\n"
        "chat_interval_s = 30\n"
        f"[platform]\nprofile = 'fast'\nworkers = {platform_workers}\n"
        f"knobs = {{ init_ms = {init_ms} }}\n"
        f"[[stages]]\nduration_s = {duration}\nusers = {users}\nspawn_rate = {spawn_rate}\n"
    )
    cmd = locust_command(
        "--only-summary",
        "--scenario",
        str(scenario),
        "--ground-truth",
        "--reports-dir",
        str(work / "reports"),
    )
    if processes > 1:
        cmd += ["--processes", str(processes)]
    subprocess.run(cmd, cwd=work, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (work / "reports" / "latest").resolve()


def percentiles(values: np.ndarray, qs: tuple[float, ...]) -> dict[float, float]:
    """Nearest-rank percentiles, the report's one method."""
    ordered = np.sort(values)
    return {q: round(percentile(ordered, q), 3) for q in qs} if len(values) else {}


def compare(run_dir: Path, steady_after_s: float) -> dict[str, Any]:
    """Join harness platform_init samples with the platform's auth -> ready on session_id."""
    truth: dict[str, dict[str, float]] = {}
    stamps: Counter[str] = Counter()  # where the platform's auth times come from
    for event in read_ground_truth(run_dir / "platform"):
        truth.setdefault(str(event["session_id"]), {})[str(event["event"])] = float(str(event["t"]))
        if event["event"] == "auth":
            stamps[str(event.get("stamp", "loop"))] += 1
    harness: dict[str, tuple[int, float]] = {}
    for f in sample_files(run_dir, read_run_json(run_dir)):
        for chunk in read_chunks(f.path):
            mine = chunk[
                (chunk["phase"] == "platform_init") & (chunk["ok"] == 1) & (chunk["attempt"] == 0)
            ]
            for sid, us, start in zip(
                mine["session_id"], mine["duration_us"], mine["start"], strict=True
            ):
                harness[str(sid)] = (int(us), float(start))
    diffs, starts, outbound, inbound = [], [], [], []
    for sid, (us, start) in harness.items():
        t = truth.get(sid, {})
        if "auth" in t and "ready" in t:
            diffs.append(us / 1000 - (t["ready"] - t["auth"]) * 1000)
            starts.append(start)
            outbound.append((t["auth"] - start) * 1000)  # auth sent -> platform stamped it
            inbound.append((start + us / 1e6 - t["ready"]) * 1000)  # ready stamped -> arrived
    d = np.array(diffs)
    steady = d[np.array(starts) - min(starts) >= steady_after_s] if starts else d
    run = read_run_json(run_dir)
    return {
        "joined": len(d),
        "auth_stamps": dict(stamps),
        "harness_samples": len(harness),
        "diff_ms": percentiles(d, (50, 90, 99, 99.9)),
        "diff_max_ms": round(float(d.max()), 3) if len(d) else None,
        "steady": len(steady),
        "steady_diff_ms": percentiles(steady, (50, 99)),
        "outbound_ms": percentiles(np.array(outbound), (50, 99)),
        "inbound_ms": percentiles(np.array(inbound), (50, 99)),
        "health": {k: run["health"][k] for k in ("valid", "loop_lag_p99_ms", "cpu_max_pct")},
        "accounting": run["accounting"]["total"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=["looping", "held"])
    parser.add_argument("--users", type=int)
    parser.add_argument("--spawn-rate", type=float)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--init-ms", type=float, default=200.0, help="fixed platform init delay")
    parser.add_argument("--pause", type=float, default=5.0, help="looping: s between lifecycles")
    parser.add_argument("--processes", type=int, default=1, help="harness worker processes")
    parser.add_argument("--platform-workers", type=int, default=1, help="reference platform's")
    args = parser.parse_args()
    looping = args.kind == "looping"
    users = args.users or (500 if looping else 5000)
    spawn = args.spawn_rate or (100 if looping else 500)
    duration = args.duration or (40 if looping else 25)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = run(
            args.kind,
            users,
            spawn,
            duration,
            args.init_ms,
            args.pause,
            args.processes,
            args.platform_workers,
            Path(tmp),
        )
        r = compare(run_dir, steady_after_s=users / spawn + 2)
    target = 1.0 if looping else 5.0
    q, a = r["diff_ms"], r["accounting"]
    p99 = q.get(99)
    verdict = "met" if p99 is not None and p99 <= target else "NOT met"
    print(
        f"accuracy, {users} {args.kind} users spawned at {spawn:g}/s for {duration:g} s "
        f"(pause {args.pause:g} s, {args.processes} harness process(es), "
        f"{args.platform_workers} platform worker(s)); "
        f"platform profile fast, init fixed at {args.init_ms:g} ms"
    )
    print(
        f"  joined {r['joined']} of {r['harness_samples']} platform_init samples on session_id; "
        f"the platform's auth times from {r['auth_stamps']}"
    )
    print(
        f"  harness - platform, ms: p50 {q.get(50)} p90 {q.get(90)} p99 {p99} "
        f"p99.9 {q.get(99.9)} max {r['diff_max_ms']} (target p99 <= {target:g} ms: {verdict})"
    )
    print(f"  after the ramp ({r['steady']} samples): {r['steady_diff_ms']}")
    print(
        f"  where: auth sent -> platform stamps it {r['outbound_ms']}; "
        f"platform stamps ready -> ready arrives {r['inbound_ms']}"
    )
    print(f"  harness health {r['health']}")
    print(
        f"  lifecycles started {a['started']} completed {a['completed']} "
        f"failed {a['failed']} interrupted {a['interrupted']}"
    )


if __name__ == "__main__":
    main()
