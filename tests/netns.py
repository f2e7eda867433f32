"""Network namespaces for tests: whether this machine allows them, and a script run in a
namespace of its own whose loopback has only four ephemeral ports (40000-40003)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.conftest import ROOT, harness_env


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)


def _namespaces_unavailable() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux's"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        return "needs iproute2's `ip` and util-linux's `unshare`"
    probe = f"hx{os.getpid() % 100000}probe"
    made = ip("netns", "add", probe)
    if made.returncode != 0:
        return f"`ip netns add` is not allowed here: {made.stderr.strip()}"
    ip("netns", "del", probe)
    return None


UNAVAILABLE = _namespaces_unavailable()  # None, or why namespaces cannot be made here


def with_four_ports(script: str, tag: str) -> subprocess.CompletedProcess[str]:
    """`python -c script` in a namespace made for it (removed after) whose ephemeral ports
    are 40000-40003, so that running out of them is quick and certain."""
    netns = f"hx{os.getpid() % 100000}{tag}"
    try:
        assert ip("netns", "add", netns).returncode == 0
        ip("-n", netns, "link", "set", "lo", "up")
        sysctl = ["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=40000 40003"]
        subprocess.run(["ip", "netns", "exec", netns, *sysctl], check=True, timeout=20)
        return subprocess.run(
            ["ip", "netns", "exec", netns, sys.executable, "-c", script],
            cwd=ROOT,
            env=harness_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        ip("netns", "del", netns)
