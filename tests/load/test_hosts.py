"""A distributed run across "hosts": Locust's master, two workers and the platform each in
its own network namespace, joined by a bridge, with private addresses inside those
namespaces only (the test creates them and removes them). Each worker has its own hostname
(a UTS namespace) and its own reports directory, as separate machines would.

Skipped, with the reason, where the machine does not allow namespaces (not root, no `ip`)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, harness_env, run_harness
from tests.netns import UNAVAILABLE, ip, with_four_ports

SUBNET = "10.213.77"
HOSTS = {"master": 1, "w1": 2, "w2": 3, "platform": 4}
PLATFORM_PORT = 8000
MASTER_PORT = 5557


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    address: str


@pytest.fixture
def hosts() -> Iterator[dict[str, Host]]:
    if UNAVAILABLE:
        pytest.skip(UNAVAILABLE)
    tag = f"hx{os.getpid() % 10000}"  # interface names have at most 15 characters
    switch = f"{tag}-sw"
    made: list[str] = []

    def run(*args: str) -> None:
        result = ip(*args)
        assert result.returncode == 0, (args, result.stderr)

    try:
        run("netns", "add", switch)
        made.append(switch)
        run("-n", switch, "link", "add", "br0", "type", "bridge")
        run("-n", switch, "link", "set", "br0", "up")
        found = {}
        for name, n in HOSTS.items():
            netns, inside, outside = f"{tag}-{name}", f"{tag}{n}a", f"{tag}{n}b"
            run("netns", "add", netns)
            made.append(netns)
            run("link", "add", inside, "type", "veth", "peer", "name", outside)
            run("link", "set", inside, "netns", netns)
            run("link", "set", outside, "netns", switch)
            run("-n", switch, "link", "set", outside, "master", "br0", "up")
            address = f"{SUBNET}.{n}"
            run("-n", netns, "addr", "add", f"{address}/24", "dev", inside)
            run("-n", netns, "link", "set", inside, "up")
            run("-n", netns, "link", "set", "lo", "up")
            found[name] = Host(name, netns, address)
        yield found
    finally:
        for netns in reversed(made):  # its interfaces go with it
            ip("netns", "del", netns)


def on(host: Host, command: list[str], cwd: Path, **kwargs: object) -> subprocess.Popen[str]:
    """`command` on `host`: in its network namespace, under its own hostname."""
    shell = f"hostname {host.name} && exec " + " ".join(f"'{a}'" for a in command)
    return subprocess.Popen(
        ["ip", "netns", "exec", host.netns, "unshare", "--uts", "sh", "-c", shell],
        cwd=cwd,
        env=harness_env(),
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def test_a_distributed_run_across_hosts(hosts: dict[str, Host], tmp_path: Path) -> None:
    dirs = {name: tmp_path / name for name in HOSTS}
    for folder in dirs.values():
        folder.mkdir()
    python = [sys.executable]
    locust = [*python, "-m", "locust", "-f", str(ROOT / "locustfile.py")]
    platform_url = f"ws://{hosts['platform'].address}:{PLATFORM_PORT}"
    platform = on(
        hosts["platform"],
        [*python, "-m", "harness", "serve", "--host", hosts["platform"].address,
         "--port", str(PLATFORM_PORT), "--profile", "fast"],
        dirs["platform"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    processes = [platform]
    try:
        assert platform.stdout is not None
        said = platform.stdout.readline()  # off loopback, serve warns first
        said += "" if "listening on" in said else platform.stdout.readline()
        assert "listening on" in said, said
        master = on(
            hosts["master"],
            [*locust, "--master", "--master-bind-host", hosts["master"].address,
             "--master-bind-port", str(MASTER_PORT), "--expect-workers", "2", "--headless",
             "-u", "20", "-r", "20", "-t", "8s", "--host", platform_url,
             "--chats-per-session", "1", "--reports-dir", str(dirs["master"] / "reports")],
            dirs["master"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        processes.append(master)
        for name in ("w1", "w2"):
            processes.append(
                on(
                    hosts[name],
                    [
                        *locust,
                        "--worker",
                        "--master-host",
                        hosts["master"].address,
                        "--master-port",
                        str(MASTER_PORT),
                        "--reports-dir",
                        str(dirs[name] / "reports"),
                    ],
                    dirs[name],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        _, err = master.communicate(timeout=120)
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert master.returncode == 0, err[-3000:]
    run_dir = (dirs["master"] / "reports" / "latest").resolve()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "complete" and run["target"] == platform_url

    # the merged record is the sum of its workers
    workers = run["accounting"]["workers"]
    assert len(workers) == 2
    total = run["accounting"]["total"]
    for key in ("started", "ready", "completed", "interrupted", "failed_total"):
        assert total[key] == sum(w[key] for w in workers.values()), key
    assert total["completed"] > 20 and run["accounting"]["identity_holds"]

    # each worker wrote its samples at the master's run directory's path on its own disk
    # (here the hosts share one), and run.json names the host that holds each file
    rows = 0
    for worker, status in run["samples"].items():
        assert status["host"] in ("w1", "w2") and status["closed"], run["samples"]
        with (run_dir / status["file"]).open() as f:
            mine = list(csv.DictReader(f))
        assert len(mine) == status["rows"] and {r["worker"] for r in mine} == {worker}
        rows += len(mine)
    assert {s["host"] for s in run["samples"].values()} == {"w1", "w2"}

    # each worker's clock against the master's, measured on its reports
    clocks = run["clocks"]
    assert {c["host"] for c in clocks.values()} == {"w1", "w2"}
    for clock in clocks.values():
        # one kernel clock here: what is measured is the one-way delay, under 100 ms
        assert clock["reports"] >= 2 and 0 <= clock["offset_ms"] < 100, clocks

    # gathered, the raw samples give the report the same counts as the merged histograms
    assert run_harness("report", str(run_dir)).returncode in (0, 1, 2)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["analysis"]["source"] == "raw samples" and not summary["partial"]
    for phase, row in run["phases"].items():
        assert summary["phases"][phase]["count"] == row["count"], phase
    assert sum(r["count"] + r["errors"] for r in summary["phases"].values()) == rows


PORT_PROBE = """
import socket
from harness.load.plugin import free_master_port
held = []
for port in (40001, 40003):  # client ports another address holds (TIME_WAIT after a big run)
    s = socket.socket()
    s.bind(("127.0.0.2", port))
    held.append(s)
picked = sorted({free_master_port() for _ in range(30)})
for port in picked:
    with socket.socket() as s:
        s.bind(("", port))  # as Locust's master binds it: every address
print(picked)
"""


def test_the_master_port_is_free_on_every_address_not_only_on_127_0_0_1() -> None:
    """In a namespace of its own with four ephemeral ports, two of them held on 127.0.0.2:
    the port picked for `--processes`' master is one the master can bind on every address
    (picked on 127.0.0.1 it was one of the held two, every time)."""
    if UNAVAILABLE:
        pytest.skip(UNAVAILABLE)
    done = with_four_ports(PORT_PROBE, "port")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == [40000, 40002]
