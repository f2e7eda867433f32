"""Streamed replies: `chat_first` and `chat_gap` against a platform with known delays.

    python -m bench.streaming [--users 50] [--duration 20] [--first-ms 30] [--gap-ms 50]

Runs a real Locust load run against the embedded reference platform (profile fast; each
reply's first chunk `--first-ms` after the chat, then `--chunks` chunks `--gap-ms` apart,
sigma 0) and prints the harness's `chat_first` and `chat_gap` percentiles next to those
delays. The platform's own timers wake up to 1 ms late (epoll's millisecond timeouts), which
is in both figures: the gaps' lateness mostly cancels out, the first chunk's does not.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from harness.analysis.rundata import load_run
from harness.analysis.stats import percentile
from harness.launch import locust_command


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--first-ms", type=float, default=30)
    ap.add_argument("--gap-ms", type=float, default=50)
    ap.add_argument("--chunks", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        scenario = Path(work) / "streaming.toml"
        scenario.write_text(
            f'user_class = "LifecycleUser"\n'
            f"[[stages]]\nduration_s = {args.duration}\nusers = {args.users}\n"
            f"spawn_rate = {args.users}\n"
            f"[users]\nchats_per_session = 3\nthink_time_s = [0.2, 0.5]\n"
            f'[platform]\nprofile = "fast"\n'
            f'[platform.knobs]\nchat_first_ms = "{args.first_ms}"\n'
            f'chat_chunk_gap_ms = "{args.gap_ms}"\nchat_chunks = "{args.chunks}"\n'
        )
        subprocess.run(
            [*locust_command("--scenario", str(scenario), "--only-summary"),
             "--reports-dir", str(Path(work) / "reports")],
            check=True, capture_output=True, cwd=work,
        )  # fmt: skip
        data = load_run(Path(work) / "reports" / "latest")
    print(f"{args.users} users, {args.duration:g} s, {args.chunks} chunks a reply")
    print(f"{'phase':<12}{'samples':>9}{'set':>8}{'p50':>9}{'p95':>9}{'p99':>9}  p50 - set")
    for phase, nominal in (("chat_first", args.first_ms), ("chat_gap", args.gap_ms)):
        ms = np.sort(data.phases[phase].ok_us / 1000)
        p50, p95, p99 = (percentile(ms, p) for p in (50, 95, 99))
        print(
            f"{phase:<12}{len(ms):>9}{nominal:>8.1f}{p50:>9.2f}{p95:>9.2f}{p99:>9.2f}"
            f"  {p50 - nominal:+.2f} ms"
        )


if __name__ == "__main__":
    main()
