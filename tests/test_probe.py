"""`harness probe` and `harness discover` against real servers, as a user runs them."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningPlatform, free_port, run_harness


def probe(p: RunningPlatform | str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = p.base if isinstance(p, RunningPlatform) else p
    return run_harness("probe", "--url", base, *args, **env)


def test_probe_prints_the_connection_test_figures(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    p = platform_factory("--profile", "fast", "--set", "init_ms=120")
    result = probe(p, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["ready"] is True and body["error"] is None
    phases = body["phases_ms"]
    assert set(phases) == {
        "connect",
        "auth_delay",
        "platform_init",
        "ready",
        "chat_first",
        "chat_gap",  # the first gap between two chunks of the reply
        "chat_complete",
        "heartbeat",
    }
    assert 100 <= phases["auth_delay"] < 150
    assert 120 <= phases["platform_init"] < 170
    assert body["authDelay"] == pytest.approx(body["readyTime"] - body["connectionTime"])
    assert body["metrics"]["connectionCount"] == 1


def test_probe_text_and_debug_log_sequence(fast_platform: RunningPlatform) -> None:
    result = probe(fast_platform, "--debug")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    expected = [
        "[WebSocket] Connecting to discovered endpoint:",
        "[WebSocket] Connected to MIPTech Platform",
        "[WebSocket] Sending authentication after 100ms delay:",
        '[WebSocket] Sent: {"type":"auth"',
        "[WebSocket] Connection ready signal received from platform",
        "[WebSocket] Disconnected: 1000 Normal closure",
        "[ConnectionTest] WebSocket connected in",
        "[ConnectionTest] Platform ready signal received in",
    ]
    positions = [next(i for i, line in enumerate(lines) if line.startswith(e)) for e in expected]
    assert positions == sorted(positions)
    assert any(line.startswith("  connection time") for line in lines)
    assert lines[-1].startswith("READY")


def test_probe_refused() -> None:
    result = probe(f"ws://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "NOT READY: connection_refused" in result.stdout


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts and never answers the upgrade."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])


def test_probe_connect_timeout(silent_listener: int) -> None:
    result = probe(f"ws://127.0.0.1:{silent_listener}", MIPTECH_CONNECTION_TIMEOUT_MS="300")
    assert result.returncode == 1
    assert "NOT READY: connect_timeout" in result.stdout


def test_probe_ready_timeout(platform_factory: Callable[..., RunningPlatform]) -> None:
    p = platform_factory("--profile", "fast", "--set", "ready_timeout_rate=1")
    result = probe(p, MIPTECH_READY_TIMEOUT_MS="400")
    assert result.returncode == 1
    assert "NOT READY: ready_timeout" in result.stdout


def test_probe_policy_violation_and_server_error(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    result = probe(platform_factory("--profile", "fast", "--tenant", "someone-else"))
    assert result.returncode == 1 and "NOT READY: policy_violation" in result.stdout
    result = probe(platform_factory("--profile", "fast", "--set", "server_error_rate=1"))
    assert result.returncode == 1 and "NOT READY: server_error" in result.stdout


def test_probe_needs_nothing_protocol_md_calls_optional(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    """No connection_established, replies without `done`: still READY and a chat round trip."""
    p = platform_factory(
        "--profile", "fast", "--set", "send_established=false", "--set", "send_done=false"
    )
    body = json.loads(probe(p, "--json").stdout)
    assert body["ready"] and "chat_complete" in body["phases_ms"]
    # ... and the frames really were absent (the knobs reach the platform's rules)
    established, done = frames_of_one_chat(platform_factory("--profile", "fast"))
    assert established and True in done  # the reference platform's default
    assert frames_of_one_chat(p) == (False, {None})


def frames_of_one_chat(p: RunningPlatform) -> tuple[bool, set[bool | None]]:
    """(whether connection_established came, the `done` values of the reply's chunks)."""
    from harness.config import load_settings
    from harness.protocol import messages as m
    from harness.protocol.clock import MonotonicClock
    from harness.protocol.session import ClientSession
    from harness.transport import Connection

    events: list[object] = []
    settings = load_settings(cli={"ws_url": p.base}, environ={})
    session = ClientSession(settings.session_settings(), MonotonicClock())
    conn = Connection(session, hook=lambda direction, item, at: events.append(item))
    assert conn.open(settings.session_url(session.session_id)) and conn.wait_ready()
    conn.chat("hello")
    conn.run_until(lambda: session.chats_in_flight == 0, 5)
    conn.close()
    established = any(isinstance(e, m.ConnectionEstablished) for e in events)
    return established, {e.done for e in events if isinstance(e, m.AssistantChunk)}


def test_discover_picks_by_priority_and_falls_back(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    p = platform_factory("--profile", "fast", "--endpoint", "/ws", "--endpoint", "/api/ws")
    result = run_harness("discover", "--url", p.base)
    assert result.returncode == 0
    assert "chosen: /ws" in result.stdout
    assert "/api/v1/ws/chat  failed     handshake_rejected: HTTP 404" in result.stdout
    result = run_harness(
        "discover", "--url", f"ws://127.0.0.1:{free_port()}", "--timeout-ms", "500"
    )
    assert result.returncode == 1
    assert "falling back to the default /api/v1/ws/chat" in result.stdout


def test_probe_uses_discovery_when_enabled(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    p = platform_factory("--profile", "fast", "--endpoint", "/api/ws")
    result = probe(p, "--json", REACT_APP_ENABLE_ENDPOINT_DISCOVERY="true")
    body = json.loads(result.stdout)
    assert body["ready"] and "/api/ws?" in body["url"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_wss_verifies_certificates_by_default(
    platform_factory: Callable[..., RunningPlatform], certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    p = platform_factory("--profile", "fast", "--certfile", str(cert), "--keyfile", str(key))
    assert p.url.startswith("wss://")
    result = probe(p)
    assert result.returncode == 1 and "NOT READY: tls_error" in result.stdout
    result = probe(p, "--ca-bundle", str(cert))
    assert result.returncode == 0, result.stdout
    assert "verification was turned off" not in result.stdout
    result = probe(p, "--insecure")
    assert result.returncode == 0
    assert "WARNING: TLS certificate verification was turned off" in result.stdout


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["probe", "--url", "http://localhost:1"], {}, "setting ws_url from command line"),
        (["probe"], {"MIPTECH_TENANT_ID": "has space"}, "MIPTECH_TENANT_ID from environment"),
        (["probe", "--env-file", "/no/such/.env"], {}, "no such file"),
        (["probe", "--bogus"], {}, "unrecognized arguments"),
        (["serve", "--profile", "quick"], {}, "unknown profile 'quick'"),
        (["serve", "--set", "init_ms"], {}, "expected KNOB=VALUE"),
        (["serve", "--port", "70000"], {}, "a whole number >= 0 and <= 65535"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], env: dict[str, str], words: str) -> None:
    result = run_harness(*args, **env)
    assert result.returncode == 2
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_every_error_class_has_words() -> None:
    from harness.errors import ErrorClass
    from harness.probe import ERROR_WORDS

    assert set(ERROR_WORDS) == {str(e) for e in ErrorClass}
