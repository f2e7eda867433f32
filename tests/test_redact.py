"""Secrets are masked by meaning, as values: never numbers, booleans, keys or encoded data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness import redact
from harness.cli import main
from harness.config import load_settings
from harness.errors import ConfigError
from harness.redact import MASK, MaskedStream, Redactor, mask_url


@pytest.fixture(autouse=True)
def forget_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_remembered", set())
    monkeypatch.setattr(redact, "_console", None)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("wss://alice:PASS@host/ws", f"wss://alice:{MASK}@host/ws"),
        ("ws://h:1/x?token=abc&v=2", f"ws://h:1/x?token={MASK}&v={MASK}"),
        (
            "ws://h/x?tenant_id=t1&session_id=s1&key=k",
            f"ws://h/x?tenant_id=t1&session_id=s1&key={MASK}",
        ),
        ("ws://u:p@h:99999/x?token=t", f"ws://u:{MASK}@h:99999/x?token={MASK}"),  # bad port
        ("ws://h/x?SECRET123", f"ws://h/x?{MASK}"),  # a bare query value
        ("ws://TOKEN123@h/x", f"ws://{MASK}@h/x"),  # a user part alone is the credential
        ("ws://alice:Pa/ss-SECRET@h/x", f"ws://alice:{MASK}@h/x"),  # an unencoded '/'
        ("ws://[::1]:8000/x?k=v#frag", f"ws://[::1]:8000/x?k={MASK}#frag"),
        ("http://localhost:3000/", "http://localhost:3000/"),
    ],
)
def test_a_url_loses_its_password_and_query_values(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_secret_looking_names_of_our_own_settings_and_plain_values_are_not_secrets() -> None:
    environ = {
        "AUTH_HOST": "127.0.0.1",  # an address, whatever service it belongs to
        "TOKEN_SERVICE_SERVICE_HOST": "10.0.0.5",
        "TOKEN_SERVICE_PORT_8080_TCP_ADDR": "10.0.0.5",
        "SSO_TOKEN_TTL": "3600s",
        "MIPTECH_AUTH_DELAY_MS": "1000",  # a setting of ours: its meaning is a delay
        "SSO_AUTH_ENABLED": "true",  # a boolean
        "OTHER_AUTH_RETRIES": "3",  # a number
        "APP_API_TOKEN": "miptech",  # a short word: only as a whole value
        "DEPLOY_SECRET": "correct-horse-battery",  # long: wherever it appears
    }
    r = Redactor(environ)
    body = {
        "ready_timeout_ms": 10000.0,
        "auth_delay_ms": 1000,
        "tls_verify": True,
        "text": "true",
        "tenant_id": "miptech-company",
        "tenant": "miptech",
        "target": "ws://127.0.0.1:8000",
        "ttl": "3600s",
        "note": "deployed with correct-horse-battery today",
        "miptech": 1,  # keys are never masked
        "phases": {"ready": {"hdr": "correct-horse-battery"}},  # encoded data: opaque
    }
    masked = r.data(body)
    assert masked == {
        **body,
        "tenant": MASK,
        "note": f"deployed with {MASK} today",
    }
    assert r.text("ready p95 1000 ms, verify true") == "ready p95 1000 ms, verify true"


def test_header_values_are_secrets_with_their_credentials_and_cookie_values() -> None:
    settings = load_settings(
        cli={"headers": ["Authorization: Bearer tok-12345", "Cookie: sid=cookie-777; theme=dark"]},
        environ={},
    )
    assert settings.headers[0] == ("Authorization", "Bearer tok-12345")
    r = Redactor({})
    assert r.text("echoed tok-12345 and cookie-777") == f"echoed {MASK} and {MASK}"
    assert r.data({"headers": [list(h) for h in settings.headers]}) == {
        "headers": [["Authorization", MASK], ["Cookie", MASK]]
    }


def test_a_bad_header_names_its_source_and_never_quotes_its_value() -> None:
    with pytest.raises(Exception, match="MIPTECH_HEADERS from environment") as caught:
        load_settings(environ={"MIPTECH_HEADERS": "Authorization Bearer s3cr3t-x"})
    assert "s3cr3t-x" not in str(caught.value)


def test_only_credential_headers_are_secrets_and_short_or_numeric_values_never() -> None:
    load_settings(
        cli={
            "headers": [
                "X-Api-Version: 2026",
                "Sec-WebSocket-Protocol: chat",
                "Cookie: consent=true; sid=abcdefgh12",
                "X-Api-Key: k-123456789",
            ]
        },
        environ={},
    )
    r = Redactor({})
    text = "run 20261126T174925Z started 2026-11-26, chat_first p95, consent=true"
    assert r.text(text) == text
    assert r.text("sid abcdefgh12 key k-123456789") == f"sid {MASK} key {MASK}"


def test_a_bad_url_is_quoted_masked_and_its_query_may_not_set_the_documents_ids() -> None:
    with pytest.raises(ConfigError, match="ws_url") as caught:
        load_settings(cli={"ws_url": "ws://localhost:99999/ws?token=SUPERSECRET123"}, environ={})
    assert "SUPERSECRET123" not in str(caught.value)
    with pytest.raises(ConfigError, match="its query sets tenant_id"):
        load_settings(cli={"ws_url": "ws://localhost:8000?tenant_id=other"}, environ={})


def test_a_query_token_is_remembered_for_the_platforms_own_words() -> None:
    load_settings(cli={"ws_url": "ws://localhost:8000?token=QTOKEN-123456"}, environ={})
    detail = "HTTP 401 Unauthorized token QTOKEN-123456"  # a platform quoting it back
    assert Redactor({}).text(detail) == f"HTTP 401 Unauthorized token {MASK}"


def test_a_mistyped_option_does_not_echo_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["probe", "--hedaer", "Authorization: Bearer TYPO-SECRET-1"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--hedaer" in err and "TYPO-SECRET" not in err and "Bearer" not in err


def test_the_console_stream_masks_every_write() -> None:
    redact.remember("hunter22")
    sink = io.StringIO()
    MaskedStream(sink).write("connecting to wss://a:pw@h/x?token=t with hunter22\n")
    assert sink.getvalue() == f"connecting to wss://a:{MASK}@h/x?token={MASK} with {MASK}\n"


def test_a_crash_is_one_line_with_its_own_exit_code_and_the_traceback_in_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import harness.cli as cli

    def broken(_: object) -> int:
        raise RuntimeError("wss://u:pw@h something broke")

    monkeypatch.setitem(cli.COMMANDS, "trends", broken)
    assert main(["trends"]) == 3
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "internal error: RuntimeError" in err[0]
    assert "pw@" not in err[0] and "Traceback" not in err[0]
    saved = Path(err[0].rsplit("traceback in ", 1)[1].rstrip(")"))
    text = saved.read_text()
    saved.unlink()
    assert "Traceback" in text and "broken" in text and "pw@" not in text


def test_json_masking_keeps_a_valid_document(tmp_path: Path) -> None:
    from harness.record.files import write_json

    redact.remember("s3cr3t-v4lue", "1000")  # a number is never a secret
    body = {"a": 1000, "b": "1000", "c": [True, "x-s3cr3t-v4lue-y"], "d": "s3cr3t-v4lue"}
    write_json(tmp_path / "x.json", body)
    assert json.loads((tmp_path / "x.json").read_text()) == {
        **body,
        "c": [True, f"x-{MASK}-y"],
        "d": MASK,
    }


def test_a_closed_pipe_is_not_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    import harness.cli as cli

    def reader_gone(_: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")  # `python -m harness ... | head`

    monkeypatch.setitem(cli.COMMANDS, "trends", reader_gone)
    monkeypatch.setattr(os, "dup2", lambda *_: None)
    assert main(["trends"]) == 141
    assert capsys.readouterr().err == ""
