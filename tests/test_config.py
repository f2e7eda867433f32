from pathlib import Path

import pytest

from harness.config import load_settings
from harness.errors import ConfigError

# The document's development .env, verbatim in the parts the harness reads.
DOCUMENT_ENV = """
# API Configuration
REACT_APP_MIPTECH_API_URL=http://localhost:8000/api/v1
REACT_APP_MIPTECH_WS_URL=ws://localhost:8123
REACT_APP_MIPTECH_TENANT_ID=acme-corp

REACT_APP_DEBUG_WEBSOCKET=true
REACT_APP_ENABLE_ENDPOINT_DISCOVERY=false  # CRITICAL: Disabled for development

# Chat Configuration
REACT_APP_CHAT_MAX_MESSAGE_LENGTH=2000
REACT_APP_CHAT_SESSION_TIMEOUT=86400000
REACT_APP_CHAT_MAX_RETRIES=3
REACT_APP_CHAT_RETRY_DELAY=1000

REACT_APP_RATE_LIMIT_REQUESTS=5
REACT_APP_RATE_LIMIT_WINDOW=30000
"""


def test_defaults_are_the_documents() -> None:
    s = load_settings(environ={})
    assert (s.ws_url, s.endpoint, s.tenant_id) == (
        "ws://localhost:8000",
        "/api/v1/ws/chat",
        "miptech-company",
    )
    assert (s.max_reconnect_attempts, s.reconnect_delay_ms, s.max_reconnect_delay_ms) == (
        5,
        1000,
        30000,
    )
    assert (s.heartbeat_interval_ms, s.connection_timeout_ms, s.message_queue_limit) == (
        30000,
        10000,
        100,
    )
    assert (s.circuit_breaker_threshold, s.circuit_breaker_timeout_ms) == (3, 60000)
    assert (s.max_message_length, s.rate_limit_requests, s.rate_limit_window_ms) == (
        4000,
        10,
        60000,
    )
    assert s.tls_verify and s.reconnect_jitter == 0
    assert (s.max_frame_bytes, s.max_json_depth) == (16 * 1024 * 1024, 64)
    assert set(s.sources.values()) == {"default"}


def test_a_teams_existing_env_file_is_understood(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(DOCUMENT_ENV)
    s = load_settings(environ={}, env_file=env)
    assert s.ws_url == "ws://localhost:8123" and s.tenant_id == "acme-corp"
    assert s.debug is True and s.endpoint_discovery is False
    assert (s.max_message_length, s.rate_limit_requests, s.rate_limit_window_ms) == (2000, 5, 30000)
    assert s.sources["tenant_id"] == f".env file {env}"
    assert (
        s.session_url("S") == "ws://localhost:8123/api/v1/ws/chat?tenant_id=acme-corp&session_id=S"
    )


def test_precedence_cli_over_env_over_dotenv_over_scenario(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("MIPTECH_TENANT_ID=from-dotenv\nMIPTECH_AUTH_DELAY_MS=50\nMIPTECH_DEBUG=1\n")
    scenario = {
        "tenant_id": "from-scenario",
        "auth_delay_ms": 75,
        "chat_timeout_ms": 5000,
        "debug": False,
    }
    environ = {"MIPTECH_TENANT_ID": "from-env", "REACT_APP_MIPTECH_TENANT_ID": "react"}
    s = load_settings(
        cli={"tenant_id": "from-cli"}, environ=environ, env_file=env, scenario=scenario
    )
    assert s.tenant_id == "from-cli" and s.sources["tenant_id"] == "command line"
    assert s.auth_delay_ms == 50 and s.debug is True
    assert s.chat_timeout_ms == 5000 and s.sources["chat_timeout_ms"] == "scenario"
    s = load_settings(environ=environ)
    assert s.tenant_id == "from-env"  # the short MIPTECH_ name beats the document's name


def test_session_settings_are_in_seconds() -> None:
    s = load_settings(environ={"MIPTECH_READY_TIMEOUT_MS": "2500"}).session_settings(reconnect=True)
    assert s.ready_timeout_s == 2.5 and s.auth_delay_s == 0.1 and s.reconnect


def test_frame_limits_reach_the_session_from_every_source() -> None:
    environ = {"MIPTECH_MAX_FRAME_BYTES": "65536", "MIPTECH_MAX_JSON_DEPTH": "8"}
    s = load_settings(environ=environ)
    assert (s.max_frame_bytes, s.max_json_depth) == (65536, 8)
    assert s.sources["max_frame_bytes"] == "environment"
    session = s.session_settings()
    assert (session.max_frame_bytes, session.max_json_depth) == (65536, 8)
    s = load_settings(environ={}, scenario={"max_frame_bytes": 1024}, cli={"max_json_depth": 500})
    assert (s.max_frame_bytes, s.max_json_depth) == (1024, 500)
    defaults = load_settings(environ={}).session_settings()
    assert (defaults.max_frame_bytes, defaults.max_json_depth) == (16 * 1024 * 1024, 64)


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"REACT_APP_MIPTECH_WS_URL": "http://x"}, "REACT_APP_MIPTECH_WS_URL from environment"),
        ({"MIPTECH_TENANT_ID": ""}, "MIPTECH_TENANT_ID"),
        ({"MIPTECH_MESSAGE_QUEUE_LIMIT": "lots"}, "must be a whole number"),
        ({"REACT_APP_RATE_LIMIT_WINDOW": "-5"}, "must be a finite number > 0"),
        ({"MIPTECH_HEARTBEAT_INTERVAL_MS": "0"}, "must be a finite number > 0"),
        ({"MIPTECH_TLS_VERIFY": "maybe"}, "must be true or false"),
        ({"MIPTECH_RECONNECT_JITTER": "2"}, ">= 0 and <= 1"),
        ({"MIPTECH_CA_BUNDLE": "/no/such.pem"}, "no such file"),
        ({"MIPTECH_ENDPOINT": "ws/chat"}, "must be a URL path starting with '/'"),
        ({"MIPTECH_MAX_FRAME_BYTES": "0"}, "MIPTECH_MAX_FRAME_BYTES.*must be a finite number > 0"),
        ({"MIPTECH_MAX_FRAME_BYTES": "16MiB"}, "must be a whole number"),
        ({"MIPTECH_MAX_FRAME_BYTES": "-1"}, "must be a finite number > 0"),
        ({"MIPTECH_MAX_JSON_DEPTH": "0"}, "MIPTECH_MAX_JSON_DEPTH.*must be a finite number > 0"),
        ({"MIPTECH_MAX_JSON_DEPTH": "2.5"}, "must be a whole number"),
        ({"MIPTECH_MAX_JSON_DEPTH": "501"}, "and <= 500"),
    ],
)
def test_bad_values_name_the_setting_and_what_is_allowed(
    environ: dict[str, str], words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(environ=environ)


def test_unknown_scenario_setting_and_missing_env_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'tenant' in scenario"):
        load_settings(environ={}, scenario={"tenant": "x"})
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(environ={}, env_file=tmp_path / "missing.env")
