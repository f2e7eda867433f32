"""Secrets are masked by meaning, as values: never numbers, booleans, keys or encoded data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness import redact
from harness.cli import main
from harness.config import load_settings
from harness.redact import MASK, MaskedStream, Redactor, mask_url


@pytest.fixture(autouse=True)
def forget_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_remembered", set())


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("wss://alice:PASS@host/ws", f"wss://alice:{MASK}@host/ws"),
        ("ws://h:1/x?token=abc&v=2", f"ws://h:1/x?token={MASK}&v={MASK}"),
        (
            "ws://h/x?tenant_id=t1&session_id=s1&key=k",
            f"ws://h/x?tenant_id=t1&session_id=s1&key={MASK}",
        ),
        ("ws://u:p@h:99999/x", f"ws://u:{MASK}@h:99999/x"),  # a bad port: still masked
        ("http://localhost:3000/", "http://localhost:3000/"),
    ],
)
def test_a_url_loses_its_password_and_query_values(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_secret_looking_names_of_our_own_settings_and_plain_values_are_not_secrets() -> None:
    environ = {
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

    redact.remember("1000")  # a pathological secret: numbers still stay numbers
    write_json(tmp_path / "x.json", {"a": 1000, "b": "1000", "c": [True, "x1000y"]})
    assert json.loads((tmp_path / "x.json").read_text()) == {
        "a": 1000,
        "b": MASK,
        "c": [True, f"x{MASK}y"],
    }
