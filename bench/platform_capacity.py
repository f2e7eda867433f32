"""The reference platform's capacity: lifecycles per second, and concurrent ready sessions.

    python -m bench.platform_capacity rate [--rate 2000] [--duration 10] [--clients 2] [--workers 1]
    python -m bench.platform_capacity hold [--sessions 20000] [--clients 2] [--workers 2]

Starts `harness serve --profile fast` itself, drives it from lean asyncio client processes
(bench/lean_client.py) on the same machine, and prints figures: achieved rate, failures,
ready-time percentiles, and the server's CPU and memory.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from typing import Any

import numpy as np
import psutil
import uvloop

from bench import lean_client
from harness.embedded import embedded_platform


def _client(kind: str, base: str, args: dict[str, Any], out: Any) -> None:
    if kind == "rate":
        tally = uvloop.run(lean_client.run_rate(base, args["rate"], args["duration"], args["chat"]))
        out.put(lean_client.tally_json(tally))
    else:
        tally, peak = uvloop.run(
            lean_client.run_hold(
                base, args["sessions"], args["rate"], args["hold"], args["heartbeat"]
            )
        )
        out.put(lean_client.tally_json(tally, peak=peak))


def server_processes(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def run(kind: str, clients: int, workers: int, per_client: dict[str, Any]) -> dict[str, Any]:
    with embedded_platform("--profile", "fast", "--workers", str(workers)) as platform:
        servers = server_processes(platform.process.pid)
        cpu0, wall0 = cpu_seconds(servers), time.perf_counter()
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_client, args=(kind, platform.base, per_client, out))
            for _ in range(clients)
        ]
        for p in procs:
            p.start()
        peak_rss = 0
        results = []
        while len(results) < clients:
            try:
                results.append(json.loads(out.get(timeout=0.5)))
            except Exception:
                peak_rss = max(peak_rss, sum(p.memory_info().rss for p in servers))
        for p in procs:
            p.join()
        wall, cpu = time.perf_counter() - wall0, cpu_seconds(servers) - cpu0
    ready = np.concatenate([np.array(r["ready_ms"], dtype=float) for r in results])
    failed: dict[str, int] = {}
    for r in results:
        for k, v in r["failed"].items():
            failed[k] = failed.get(k, 0) + v
    return {
        "started": sum(r["started"] for r in results),
        "completed": sum(r["completed"] for r in results),
        "failed": failed,
        "late_starts": sum(r["late_starts"] for r in results),
        "peak": sum(r.get("peak", 0) for r in results),
        "ready_ms": {q: round(float(np.percentile(ready, q)), 2) for q in (50, 95, 99)}
        if len(ready)
        else {},
        "wall_s": round(wall, 2),
        "server_cpu_s": round(cpu, 2),
        "server_peak_rss_mb": round(peak_rss / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.platform_capacity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    rate = sub.add_parser("rate", help="full lifecycles per second")
    rate.add_argument("--rate", type=float, default=2000)
    rate.add_argument("--duration", type=float, default=10)
    rate.add_argument("--clients", type=int, default=2)
    rate.add_argument("--workers", type=int, default=1)
    rate.add_argument("--no-chat", action="store_true")
    hold = sub.add_parser("hold", help="concurrent ready sessions")
    hold.add_argument("--sessions", type=int, default=20_000)
    hold.add_argument("--rate", type=float, default=2000, help="opening rate, sessions/s")
    hold.add_argument("--hold", type=float, default=20, help="seconds to hold them")
    hold.add_argument("--heartbeat", type=float, default=5, help="seconds between pings")
    hold.add_argument("--clients", type=int, default=2)
    hold.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.kind == "rate":
        chat = not args.no_chat
        per = {"rate": args.rate / args.clients, "duration": args.duration, "chat": chat}
        r = run("rate", args.clients, args.workers, per)
        per_lifecycle_us = 1e6 * r["server_cpu_s"] / max(r["completed"], 1)
        report(
            f"reference platform, profile fast, {args.workers} worker(s); {args.clients} lean "
            f"asyncio client processes; offered {args.rate:.0f} lifecycles/s for "
            f"{args.duration:g} s ({'with' if chat else 'without'} a chat each)",
            f"completed {r['completed']} of {r['started']} in {r['wall_s']} s "
            f"= {r['completed'] / r['wall_s']:.0f}/s sustained; failed {r['failed'] or 0}; "
            f"late starts {r['late_starts']}",
            f"ready ms {percentiles(r)} (includes the client's 100 ms auth delay)",
            f"server CPU {r['server_cpu_s']} s = {per_lifecycle_us:.0f} µs per lifecycle "
            f"(= {1e6 / per_lifecycle_us:.0f} lifecycles/s per server core); "
            f"peak RSS {r['server_peak_rss_mb']} MB",
        )
    else:
        per = {
            "sessions": args.sessions // args.clients,
            "rate": args.rate / args.clients,
            "hold": args.hold,
            "heartbeat": args.heartbeat,
        }
        r = run("hold", args.clients, args.workers, per)
        report(
            f"reference platform, profile fast, {args.workers} workers; {args.clients} lean "
            f"asyncio client processes; {args.sessions} sessions opened at {args.rate:.0f}/s, "
            f"held {args.hold:g} s with a ping every {args.heartbeat:g} s",
            f"ready and held at once: {r['peak']} of {r['started']}; "
            f"answering pings to the end: {r['completed']}; failed {r['failed'] or 0}",
            f"ready ms {percentiles(r)}",
            f"server peak RSS {r['server_peak_rss_mb']} MB "
            f"({1024 * r['server_peak_rss_mb'] / max(r['peak'], 1):.1f} KB per session); "
            f"server CPU {r['server_cpu_s']} s in {r['wall_s']} s",
        )


def percentiles(r: dict[str, Any]) -> str:
    q = r["ready_ms"]
    return f"p50 {q.get(50)} p95 {q.get(95)} p99 {q.get(99)}"


def report(title: str, *lines: str) -> None:
    print(title)
    for line in lines:
        print(f"  {line}")


if __name__ == "__main__":
    main()
