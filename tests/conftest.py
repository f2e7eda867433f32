"""Shared fixtures: the reference platform as a real process on an ephemeral port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.embedded import EmbeddedPlatform
from harness.embedded import start_platform as start_embedded

ROOT = Path(__file__).resolve().parent.parent


class RunningPlatform(EmbeddedPlatform):
    def session_url(
        self, tenant: str = "miptech-company", session: str = "s-1", path: str = "/api/v1/ws/chat"
    ) -> str:
        return f"{self.base}{path}?tenant_id={tenant}&session_id={session}"


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def harness_env(**extra: str) -> dict[str, str]:
    """The environment minus any MIPTECH_/REACT_APP_ settings of the person running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIPTECH_", "REACT_APP_"))}
    env.update(extra)
    return env


def start_platform(*args: str) -> RunningPlatform:
    p = start_embedded(*args, env=harness_env())
    return RunningPlatform(p.process, p.url, p.admin_token)


def stop_platform(platform: RunningPlatform) -> int:
    return platform.stop()


@pytest.fixture
def platform_factory() -> Iterator[Callable[..., RunningPlatform]]:
    started: list[RunningPlatform] = []

    def start(*args: str) -> RunningPlatform:
        started.append(start_platform(*args))
        return started[-1]

    yield start
    for p in started:
        stop_platform(p)


@pytest.fixture(scope="module")
def fast_platform() -> Iterator[RunningPlatform]:
    p = start_platform("--profile", "fast")
    yield p
    stop_platform(p)


def run_harness(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=harness_env(**env),
    )
