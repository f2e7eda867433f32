"""Scale: many held ready sessions with heartbeats from this one machine.

    python -m bench.scale [--sessions 20000] [--spawn-rate 500] [--hold 30] [--processes N]
                          [--heartbeat 10] [--platform-workers 2] [--source-addresses A-B]

Starts `harness serve --profile fast --workers N` (a process may hold at most 20,000 open
files here, so both sides need a process per 20,000 sessions or fewer), then a Locust run of
HeldSessionUsers with `--processes N` (by default as few as the open-file limit allows),
heartbeats every `--heartbeat` s (the document's is 30), connecting from
`--source-addresses` in turn (one address pair has ~28,000 ephemeral ports: 50,000 sessions
need two or more). Prints how many sessions were ready at once, the heartbeat round trips,
and the harness's memory per held session.
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import tempfile
from pathlib import Path

from bench import positive
from harness.embedded import embedded_platform
from harness.errors import HarnessError
from harness.launch import locust_command
from harness.record.runfile import read_run_json

RESERVED_FILES = 1000  # a process's own: its libraries, logs, samples file, Locust's sockets


def processes_for(sessions: int) -> int:
    """As few processes as hold `sessions` open connections under the open-file limit."""
    limit, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, math.ceil(sessions / max(limit - RESERVED_FILES, 1)))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--sessions", type=positive(int), default=20_000)
    parser.add_argument("--spawn-rate", type=positive(float), default=500)
    parser.add_argument("--hold", type=positive(float), default=30, help="seconds after the ramp")
    parser.add_argument(
        "--processes",
        type=positive(int),
        default=None,
        help="harness processes (default: as many as the open-file limit needs)",
    )
    parser.add_argument(
        "--heartbeat", type=positive(float), default=10, help="seconds between pings"
    )
    parser.add_argument("--platform-workers", type=positive(int), default=2)
    parser.add_argument("--source-addresses", default="", help="e.g. 127.0.0.2-127.0.0.4")
    args = parser.parse_args()
    args.processes = args.processes or processes_for(args.sessions)
    duration = args.sessions / args.spawn_rate + args.hold
    with (
        tempfile.TemporaryDirectory() as tmp,
        embedded_platform("--profile", "fast", "--workers", str(args.platform_workers)) as platform,
    ):
        scenario = Path(tmp) / "scale.toml"
        scenario.write_text(
            "user_class = 'HeldSessionUser'\n"
            "[users]\nchat_interval_s = 600\n"
            f"[settings]\nheartbeat_interval_ms = {args.heartbeat * 1000:.0f}\n"
            f"source_addresses = '{args.source_addresses}'\n"
            f"[[stages]]\nduration_s = {duration}\nusers = {args.sessions}\n"
            f"spawn_rate = {args.spawn_rate}\n"
        )
        cmd = locust_command(
            *("--only-summary", "--scenario", str(scenario), "--host", platform.base),
            *("--processes", str(args.processes), "--reports-dir", str(Path(tmp) / "reports")),
        )
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        try:
            run = read_run_json(Path(tmp) / "reports" / "latest")
        except HarnessError as exc:
            lines = (done.stdout + done.stderr).splitlines()
            errors = [line for line in lines if "error" in line.lower()][:10]
            print(f"scale: no run record ({exc}); the run's errors and last words:")
            print("\n".join(dict.fromkeys(errors + lines[-20:])))
            raise SystemExit(1) from None
    said = [  # what the run said of its workers and itself, besides its tables
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "lost" in line or "error" in line.lower() or "missing" in line or "waiting" in line
    ]
    a, phases, health = run["accounting"]["total"], run["phases"], run["health"]
    rss = sum(p["rss_max_mb"] for p in health["processes"].values())
    grown = rss - sum(p.get("rss_start_mb", 0) for p in health["processes"].values())
    beat = phases.get("heartbeat", {})
    print(
        f"scale: {args.sessions} held sessions opened at {args.spawn_rate:g}/s by "
        f"{args.processes} harness processes, held {args.hold:g} s, "
        f"heartbeat every {args.heartbeat:g} s; "
        f"reference platform profile fast, {args.platform_workers} workers, same machine"
        + (f"; from {args.source_addresses}" if args.source_addresses else "")
    )
    print(
        f"  ready {a['ready']} of {a['started']} started; failed {a['failed'] or 0}; "
        f"interrupted at the end {a['interrupted']}; completed {a['completed']}; lost "
        f"{a.get('lost', 0)}; in flight (unaccounted) {a.get('in_flight', 0)}; reconnects "
        f"{a['reconnects']}; run {run.get('status')}, workers lost "
        f"{len(run.get('workers_lost') or [])}"
    )
    print(
        f"  heartbeats {beat.get('count', 0)} ok, {beat.get('errors', 0)} failed; "
        f"round trip p50 {beat.get('p50_ms')} p99 {beat.get('p99_ms')} ms"
    )
    print(
        f"  ready ms p50 {phases['ready']['p50_ms']} p99 {phases['ready']['p99_ms']}; "
        f"harness memory {rss:.0f} MB peak over {len(health['processes'])} processes = "
        f"{1024 * rss / max(a['ready'], 1):.1f} KB per held session; "
        f"{1024 * grown / max(a['ready'], 1):.1f} KB per session above the processes' "
        f"{rss - grown:.0f} MB before their first user"
    )
    print(
        f"  harness health valid {health['valid']}: loop lag p99 {health['loop_lag_p99_ms']} ms, "
        f"CPU max {health['cpu_max_pct']} %"
    )
    for line in said[:20]:
        print(f"  said: {line}")


if __name__ == "__main__":
    main()
