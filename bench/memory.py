"""Memory: what one held session adds to a gevent process, without Locust around it.

    python -m bench.memory [--sessions 3000] [--rate 1300]

Starts `harness serve --profile fast`, then in a child process (gevent monkey-patched, as
Locust runs) opens `sessions` held sessions through the bundled users' own code
(`run_lifecycle(held=True)`), waits until they are ready, and prints the process's RSS
growth per ready session and the greenlets' saved stacks. The Locust worker's figure, with
its user objects, is bench.scale's "per session above the processes' ... before their first
user".
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from bench import positive
from harness.embedded import embedded_platform

PROBE = """
from gevent import monkey; monkey.patch_all()
import gc, sys, gevent, psutil
import harness.load.plugin  # what a Locust process of the harness sets up (gevent's config)
from harness.config import Settings
from harness.load.health import HealthMonitor
from harness.load.lifecycle import RunContext, run_lifecycle
from harness.load.scenario import Knobs
from harness.record.results import ProcessResults

url, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ctx = RunContext(
    Settings(ws_url=url, heartbeat_interval_ms=30000),
    Knobs(chat_interval_s=600, session_duration_s=0),
    ProcessResults("memory"),
    HealthMonitor(),
)
process = psutil.Process()
gc.collect()
before = process.memory_info().rss
users = []
for i in range(n):
    users.append(gevent.spawn(run_lifecycle, ctx, held=True))
    if i % 100 == 99:
        gevent.sleep(100 / rate)
while ctx.results.accounting.ready < n and not all(u.dead for u in users):
    gevent.sleep(0.5)
gevent.sleep(2)
gc.collect()
grown = process.memory_info().rss - before
ready = ctx.results.accounting.ready
stack = sum(u._stack_saved for u in users) / n
print(f"memory: {ready} of {n} held sessions ready; RSS {before / 2**20:.0f} -> "
      f"{(before + grown) / 2**20:.0f} MB: {grown / max(ready, 1) / 1024:.1f} KB per session "
      f"(greenlet stacks saved {stack / 1024:.1f} KB each)", flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--sessions", type=positive(int), default=3000)
    parser.add_argument("--rate", type=positive(float), default=1300, help="opened a second")
    args = parser.parse_args()
    with embedded_platform("--profile", "fast") as platform:
        probe = [sys.executable, "-c", PROBE, platform.base, str(args.sessions), str(args.rate)]
        done = subprocess.run(probe, capture_output=True, text=True, timeout=600)
    print(done.stdout.strip() or done.stderr[-2000:])


if __name__ == "__main__":
    main()
