"""What the upgrade request carries to a real platform: the target's query, the document's
browser headers (Origin of its page, User-Agent), and configured headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.config import load_settings, split_target
from harness.errors import ConfigError
from harness.headers import parse_headers
from harness.protocol.clock import MonotonicClock
from harness.protocol.session import ClientSession
from harness.transport import Connection
from tests.conftest import upgrading_server
from tests.test_probe import certificate  # noqa: F401  (a fixture)


def upgrade_request(target: str, **cli: object) -> tuple[str, dict[str, str]]:
    """Open one connection as the harness does; the request line and headers sent."""
    with upgrading_server() as (base, requests, _):
        settings = load_settings(cli={**split_target(base + target), **cli}, environ={})
        session = ClientSession(settings.session_settings(), MonotonicClock())
        conn = Connection(session)
        assert conn.open(settings.session_url(session.session_id)), conn.detail
        conn.close()
    head, *lines = requests[0].decode().split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return head, headers


def test_the_upgrade_carries_the_targets_query_and_the_browsers_headers() -> None:
    head, headers = upgrade_request(
        "/api/v1/ws/chat?token=abc&region=eu",
        headers=["Authorization: Bearer tok-1", "Cookie: sid=42; theme=dark"],
    )
    path = head.split()[1]
    assert path.startswith("/api/v1/ws/chat?token=abc&region=eu&tenant_id=miptech-company&")
    assert "session_id=" in path
    assert headers["origin"] == "http://localhost:3000"  # the page the document's client runs on
    assert headers["user-agent"] == "Mozilla/5.0 (X11; Linux x86_64) miptech-harness"
    assert headers["authorization"] == "Bearer tok-1"
    assert headers["cookie"] == "sid=42; theme=dark"


def test_configured_origin_and_page_replace_the_defaults() -> None:
    _, headers = upgrade_request(
        "", page_url="https://app.example.com:8443/chat", user_agent="Firefox/140"
    )
    assert headers["origin"] == "https://app.example.com:8443"
    assert headers["user-agent"] == "Firefox/140"
    _, headers = upgrade_request("", headers=["Origin: https://gateway.example"])
    assert headers["origin"] == "https://gateway.example"
    assert list(headers).count("origin") == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Authorization: Bearer x\nX-Api-Key: k",
            (("Authorization", "Bearer x"), ("X-Api-Key", "k")),
        ),
        ('{"X-Api-Key": "k", "Cookie": "a=b; c=d"}', (("X-Api-Key", "k"), ("Cookie", "a=b; c=d"))),
        (["Sec-WebSocket-Protocol: v1.chat"], (("Sec-WebSocket-Protocol", "v1.chat"),)),
        ({"X-Tenant": "t"}, (("X-Tenant", "t"),)),  # a scenario's table
        ("", ()),
    ],
)
def test_headers_from_each_source_form(raw: object, expected: tuple[tuple[str, str], ...]) -> None:
    assert parse_headers(raw) == expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("Authorization Bearer x", "not 'Name: value'"),
        ("Bad Name: x", "not an HTTP header name"),
        ("Host: evil", "handshake's own"),
        ("Sec-WebSocket-Key: x", "handshake's own"),
        ("Sec-WebSocket-Accept: x", "handshake's own"),
        ("Origin: a\norigin: b", "given twice"),
        (["X-A: one\r\nX-Injected: two"], "one line of text"),
        ('{"X-A": 5}', "one line of text"),
        ('{"X-A": ', "JSON object"),
        ("[1, 2]", "not 'Name: value'"),
        (7, "'Name: value' headers"),
    ],
)
def test_bad_headers_say_why(raw: object, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_headers(raw)


def test_headers_come_from_the_environment_and_the_command_line_wins() -> None:
    env = {"MIPTECH_HEADERS": "X-Api-Key: from-env"}
    assert load_settings(environ=env).headers == (("X-Api-Key", "from-env"),)
    both = load_settings(cli={"headers": ["X-Api-Key: from-cli"]}, environ=env)
    assert both.headers == (("X-Api-Key", "from-cli"),)
    assert both.sources["headers"] == "command line"


def test_the_default_origin_is_what_a_browser_sends() -> None:
    for page, origin in (
        ("HTTPS://u:p@App.Example.com:443/chat", "https://app.example.com"),
        ("http://localhost:3000/", "http://localhost:3000"),
        ("http://[::1]:8080/x", "http://[::1]:8080"),
    ):
        assert load_settings(cli={"page_url": page}, environ={}).handshake_headers()[0] == (
            f"Origin: {origin}"
        )


def test_insecure_and_a_ca_bundle_together_are_refused(
    certificate: tuple[Path, Path],  # noqa: F811
) -> None:
    with pytest.raises(ConfigError, match="choose one"):
        load_settings(cli={"tls_verify": False, "ca_bundle": str(certificate[0])}, environ={})


def test_a_ca_bundle_that_is_not_pem_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bundle.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"ca_bundle from command line.*PEM CA certificates"):
        load_settings(cli={"ca_bundle": str(bad)}, environ={})
