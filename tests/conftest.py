"""Shared fixtures: the reference platform as a real process on an ephemeral port."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import transport
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


@pytest.fixture(params=["blocking", "green"])
def socket_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each of the transport's two kinds of socket in turn: blocking with a timeout (a plain
    process, and TLS) and GreenSocket (plain TCP in a gevent process: a Locust run). The
    test's own greenlet waits on gevent's hub, which works without monkey-patching."""
    monkeypatch.setattr(transport, "_green", lambda: request.param == "green")
    return str(request.param)


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


GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@contextlib.contextmanager
def upgrading_server(
    script: bytes = b"", answer: bytes | None = None, hold: bool = True
) -> Iterator[tuple[str, list[bytes], list[bytes]]]:
    """Accepts one connection: a correct 101 (or `answer` as is), then `script` as is. Yields
    its base URL, the upgrade request it got, and what the client sent after its handshake
    (complete once the client has closed the socket; `hold=False`: it closes at once)."""
    server = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(3.0)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            requests.append(request)
            key = re.search(rb"(?i)sec-websocket-key: *(\S+)", request)
            assert key is not None
            accept = base64.b64encode(hashlib.sha1(key[1] + GUID).digest())
            if answer is None:
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                    b"Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n" + script
                )
            else:
                conn.sendall(answer + script)
            with contextlib.suppress(OSError):
                while hold and (data := conn.recv(65536)):
                    received.append(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.getsockname()[1]}", requests, received
    finally:
        thread.join(5)
        server.close()
