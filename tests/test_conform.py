"""`harness conform` against real reference platforms over loopback: the reference platform
conforms, and each knob that breaks one rule makes that rule, and only that rule, fail.

Platforms run with a 300 ms auth timeout (and conform is told so), the client authenticates
10 ms after open, and every wait (a chat's answer, connection_ready, any other answer) is 1 s:
a silent platform costs a second, not the documented 5-30 s."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.conform import RULE_NAMES
from tests.conftest import (
    ROOT,
    RunningPlatform,
    free_port,
    harness_env,
    run_harness,
    start_platform,
    stop_platform,
)

AUTH_TIMEOUT_MS = "300"
QUICK = {
    "MIPTECH_AUTH_DELAY_MS": "10",
    "MIPTECH_CHAT_TIMEOUT_MS": "1000",
    "MIPTECH_READY_TIMEOUT_MS": "1000",
}

# The knob (`serve --set KNOB=false`) that breaks each rule, and words of what conform then
# observes. ready_after_auth has none of its own: see the never-ready test.
BREAKS = {
    "missing_tenant": ("check_tenant", "closed 1008 only at the auth timeout"),
    "tenant_mismatch": ("check_auth_tenant", "was accepted: connection_ready"),
    "not_ready": ("check_ready", "a reply (assistant chat_message)"),
    "reply_end": ("end_replies", "no done: true or stop_typing after them in 1 s"),
    "message_too_long": ("check_length", "a reply (assistant chat_message) to a chat of 4001"),
    "rate_limited": ("check_rate", "10 chats answered, chat 11: a reply"),
    "bad_message": ("keep_open_on_bad_json", "error bad_message, then closed 1003"),
    "unknown_type": ("answer_unknown_type", "no answer in 1 s"),
    "ping": ("answer_ping", "no answer in 1 s"),
    "auth_timeout": ("close_on_auth_timeout", "still open 1.3 s after it opened without auth"),
}
NEED_READY = {
    "reply_end",
    "message_too_long",
    "rate_limited",
    "bad_message",
    "unknown_type",
    "ping",
}


def serve(start: Callable[..., RunningPlatform], *knobs: str) -> RunningPlatform:
    args = [a for knob in knobs for a in ("--set", knob)]
    return start("--profile", "fast", "--auth-timeout-ms", AUTH_TIMEOUT_MS, *args)


def conform(p: RunningPlatform | str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = p.base if isinstance(p, RunningPlatform) else p
    timeouts = ("--auth-timeout-ms", AUTH_TIMEOUT_MS, "--timeout-ms", "1000")
    return subprocess.run(
        [sys.executable, "-m", "harness", "conform", "--url", base, *timeouts, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=harness_env(**{**QUICK, **env}),
    )


def rows(stdout: str) -> dict[str, tuple[str, str]]:
    """The table's rows, in order: rule -> (status, the rest of the line)."""
    found = {}
    for line in stdout.splitlines():
        name, _, rest = line.partition(" ")
        if name in RULE_NAMES:
            status, _, text = rest.strip().partition(" ")
            found[name] = (status, text)
    return found


def statuses(stdout: str) -> dict[str, str]:
    return {name: status for name, (status, _) in rows(stdout).items()}


def one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def conforming(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One full run against the reference platform as it is, writing JUnit and Markdown."""
    out = tmp_path_factory.mktemp("conform")
    p = start_platform("--profile", "fast", "--auth-timeout-ms", AUTH_TIMEOUT_MS)
    try:
        result = conform(p, "--junit", str(out / "c.xml"), "--markdown", str(out / "c.md"))
    finally:
        stop_platform(p)
    assert result.returncode == 0, result.stdout + result.stderr
    yield result.stdout, out


def test_the_reference_platform_passes_every_rule(conforming: tuple[str, Path]) -> None:
    stdout, _ = conforming
    assert list(rows(stdout)) == list(RULE_NAMES)  # every rule, in the table's order
    assert set(statuses(stdout).values()) == {"pass"}
    assert "11 rules: 11 pass, 0 fail, 0 skip" in stdout
    found = rows(stdout)
    assert "connection_established came" in found["ready_after_auth"][1]
    assert "the last with done: true" in found["reply_end"][1]
    assert "error auth_timeout, then closed 1008" in found["auth_timeout"][1]


def test_junit_has_one_case_per_rule(conforming: tuple[str, Path]) -> None:
    _, out = conforming
    suite = ET.parse(out / "c.xml").getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("11", "0", "0")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == list(RULE_NAMES)
    assert not suite.findall(".//failure") and not suite.findall(".//skipped")
    text = cases[0].findtext("system-out") or ""
    assert text.startswith("expected: close 1008") and "observed: no tenant_id:" in text


def test_markdown_has_the_table(conforming: tuple[str, Path]) -> None:
    _, out = conforming
    lines = (out / "c.md").read_text().splitlines()
    assert lines[0] == "## MIPTech platform conformance: **PASS**"
    head = lines.index("| rule | expected | observed | status |")
    assert lines[head + 1] == "|---|---|---|---|"
    table = lines[head + 2 : head + 2 + len(RULE_NAMES)]
    assert [line.split("`")[1] for line in table] == list(RULE_NAMES)
    assert all(line.endswith("| ✅ pass |") and line.count(" | ") == 3 for line in table)


def test_every_rule_but_ready_after_auth_has_a_knob_that_breaks_it() -> None:
    assert set(BREAKS) | {"ready_after_auth"} == set(RULE_NAMES)
    assert len({knob for knob, _ in BREAKS.values()}) == len(BREAKS)


@pytest.mark.parametrize("rule", sorted(BREAKS))
def test_a_knob_breaks_its_rule_and_only_it(
    rule: str, platform_factory: Callable[..., RunningPlatform], tmp_path: Path
) -> None:
    knob, words = BREAKS[rule]
    result = conform(serve(platform_factory, f"{knob}=false"), "--junit", str(tmp_path / "j.xml"))
    assert result.returncode == 1, result.stdout + result.stderr
    found = statuses(result.stdout)
    assert found == {name: "fail" if name == rule else "pass" for name in RULE_NAMES}
    assert words in rows(result.stdout)[rule][1]
    suite = ET.parse(tmp_path / "j.xml").getroot()
    failing = [c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None]
    assert failing == [rule] and suite.get("failures") == "1"


def test_connection_established_and_done_are_optional(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    p = serve(platform_factory, "send_established=false", "send_done=false")
    result = conform(p)
    assert result.returncode == 0, result.stdout
    found = rows(result.stdout)
    assert found["ready_after_auth"][1].endswith("no connection_established (optional)")
    assert "then stop_typing (no done)" in found["reply_end"][1]


def test_a_platform_never_ready_fails_that_rule_and_skips_what_needs_ready(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    p = serve(platform_factory, "ready_timeout_rate=1")
    result = conform(p, MIPTECH_READY_TIMEOUT_MS="400")
    assert result.returncode == 1  # a skip is not a pass
    expected = {name: "skip" if name in NEED_READY else "pass" for name in RULE_NAMES}
    expected["ready_after_auth"] = "fail"
    assert statuses(result.stdout) == expected
    found = rows(result.stdout)
    assert "no connection_ready in 0.4 s after auth" in found["ready_after_auth"][1]
    assert "needs connection_ready" in found["ping"][1]


def test_only_and_skip_pick_rules(fast_platform: RunningPlatform, tmp_path: Path) -> None:
    junit = tmp_path / "only.xml"
    result = conform(fast_platform, "--only", "ping,not_ready", "--junit", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(rows(result.stdout)) == ["not_ready", "ping"]  # the table's order, not ours
    cases = ET.parse(junit).getroot().findall("testcase")
    assert [c.get("name") for c in cases] == ["not_ready", "ping"]
    result = conform(fast_platform, "--skip", "auth_timeout, rate_limited")
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(rows(result.stdout)) == [
        n for n in RULE_NAMES if n not in ("auth_timeout", "rate_limited")
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--only", "ping,teleport"], ["--only: unknown rule 'teleport'", ", ".join(RULE_NAMES)]),
        (["--skip", "nope"], ["--skip: unknown rule 'nope'; rules: missing_tenant"]),
        (["--only", ","], ["--only: no rule named"]),
        (["--only", "ping", "--skip", "ping"], ["leave no rule to run"]),
        (["--junit", "/no/such/dir/j.xml"], ["--junit /no/such/dir/j.xml", "does not exist"]),
        (["--timeout-ms", "0"], ["--timeout-ms", "'0' is not allowed"]),
        (["--auth-timeout-ms", "soon"], ["--auth-timeout-ms"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], words: list[str]) -> None:
    result = run_harness("conform", "--url", f"ws://127.0.0.1:{free_port()}", *args)
    one_error_line(result, *words)
    assert result.stdout == ""


def test_a_refused_connection_is_one_line_and_exit_2() -> None:
    result = run_harness("conform", "--url", f"ws://127.0.0.1:{free_port()}")
    one_error_line(result, "harness conform: error: cannot connect to", "connection_refused")
    assert result.stdout == ""  # no table for a platform that is not there


def test_every_rule_knob_reaches_the_platform_rules() -> None:
    """`serve --set KNOB=false` changes exactly that switch of the rule book."""
    from dataclasses import asdict

    from harness.protocol.platform import PlatformRules
    from harness.server.profiles import RULE_KNOBS, build_profile, platform_rules

    assert {knob for knob, _ in BREAKS.values()} <= set(RULE_KNOBS)
    default = asdict(platform_rules(build_profile("documented")))
    assert default == asdict(PlatformRules())  # defaults keep today's behaviour
    for knob in RULE_KNOBS:
        rules = asdict(platform_rules(build_profile("documented", {knob: "false"}), "t", 2.5))
        assert rules == {**default, knob: False, "tenant_id": "t", "auth_timeout_s": 2.5}


def test_a_url_without_one_key_keeps_the_rest_as_given() -> None:
    from harness.config import load_settings
    from harness.conform import Target

    settings = load_settings(cli={"ws_url": "ws://h:1?key=a%2Fb"}, environ={})
    t = Target(settings, "/api/v1/ws/chat")
    assert t.url("S") == "ws://h:1/api/v1/ws/chat?key=a%2Fb&tenant_id=miptech-company&session_id=S"
    assert t.url("S", without="tenant_id") == "ws://h:1/api/v1/ws/chat?key=a%2Fb&session_id=S"
    assert t.url("S", without="session_id").endswith("?key=a%2Fb&tenant_id=miptech-company")


def test_an_early_auth_timeout_close_fails_the_rule(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    """Closing at 0.3 s when the platform's auth timeout is said to be 2 s drops a client
    whose auth is merely slow: a fail, not a pass."""
    p = serve(platform_factory)
    result = conform(p, "--only", "auth_timeout", "--auth-timeout-ms", "2000")
    status, rest = rows(result.stdout)["auth_timeout"]
    assert status == "fail" and "before the 2 s auth timeout" in rest, result.stdout


SERVE = """
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()

asyncio.run(main())
"""


@contextlib.contextmanager
def scripted_platform(handler: str) -> Iterator[str]:
    """A websockets server running `handler` (a script defining `async def handler(ws)`),
    in its own process; yields its URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", handler + SERVE, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.kill()
        server.wait()


PINGING = """
import asyncio, json, sys
from websockets.asyncio.server import serve

async def handler(ws):  # answers auth with ready, then nothing but WebSocket pings
    async def pings():
        while True:
            await asyncio.sleep(0.2)
            await ws.ping()
    task = asyncio.create_task(pings())
    try:
        async for message in ws:
            if json.loads(message).get("type") == "auth":
                ready = {"client_id": "c", "tenant_id": "t", "ready_duration": 0.01}
                await ws.send(json.dumps({"type": "connection_ready", "data": ready}))
    except Exception:
        pass
    finally:
        task.cancel()
"""


def test_a_platform_that_only_pings_gets_no_answer_by_the_deadline(tmp_path: Path) -> None:
    """websocket-client answers a ping and reads on, restarting its socket timeout: such a
    platform once kept conform waiting for ever. Every wait now ends by its deadline."""
    with scripted_platform(PINGING) as url:
        result = conform(url, "--only", "ping,unknown_type")
    assert statuses(result.stdout) == {"unknown_type": "fail", "ping": "fail"}, result.stdout
    assert rows(result.stdout)["ping"][1].endswith("no answer in 1 s"), result.stdout


DOUBLE_ERROR = """
import asyncio, json, sys
from websockets.asyncio.server import serve

async def handler(ws):  # ready after auth; a refused frame gets its error twice; then silence
    async for message in ws:
        try:
            kind = json.loads(message).get("type")
        except ValueError:
            kind = None
        if kind == "auth":
            ready = {"client_id": "c", "tenant_id": "t", "ready_duration": 0.01}
            await ws.send(json.dumps({"type": "connection_ready", "data": ready}))
        elif kind != "chat_message":
            for _ in range(2):
                error = {"code": "bad_message", "message": "not JSON"}
                await ws.send(json.dumps({"type": "error", "data": error}))
"""


def test_a_repeated_error_is_not_an_answer_to_the_chat_after_it(tmp_path: Path) -> None:
    """A platform that answers a refused frame twice and then ignores chats must fail
    bad_message: its second error, naming no chat, once passed as the chat's answer."""
    with scripted_platform(DOUBLE_ERROR) as url:
        result = conform(url, "--only", "bad_message")
    assert statuses(result.stdout) == {"bad_message": "fail"}, result.stdout
