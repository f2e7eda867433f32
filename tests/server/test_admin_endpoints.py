"""The reference platform's admin endpoints answer only a POST carrying the start's token and
nothing a browser sends: a web page on the same machine must not drop every session."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import websocket

from harness.embedded import ADMIN_TOKEN_HEADER, admin_post, start_platform
from harness.errors import HarnessError
from harness.protocol import messages as m
from tests.conftest import ROOT, RunningPlatform, harness_env, run_harness
from tests.conftest import start_platform as start_test_platform
from tests.server.test_reference_platform import close_code, ready_socket, recv_until

FIXED_TOKEN = "fixed-admin-token-0123456789"


def request(
    p: RunningPlatform, method: str, path: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)
    conn.request(method, path, body=b"" if method == "POST" else None, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def assert_no_cors(response: http.client.HTTPResponse) -> None:
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def assert_alive(sockets: list[websocket.WebSocket]) -> None:
    """Every session still answers a ping (a dropped one gets a 1001 close instead)."""
    time.sleep(0.3)  # a drop, had there been one, would have reached them by now
    for ws in sockets:
        ws.send(m.ping_frame(0))
        recv_until(ws, "pong")


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def platform(request: pytest.FixtureRequest) -> Iterator[RunningPlatform]:
    p = start_test_platform("--profile", "fast", "--workers", str(request.param))
    yield p
    p.stop()


REFUSED = [
    pytest.param("GET", {}, 405, id="GET"),
    pytest.param("GET", {"token": True}, 405, id="GET-with-token"),
    pytest.param("POST", {}, 403, id="POST-no-token"),
    pytest.param(
        "POST", {ADMIN_TOKEN_HEADER: "wrong-token-0123456789"}, 403, id="POST-wrong-token"
    ),
    pytest.param(
        "POST", {"token": True, "Origin": "http://evil.example"}, 403, id="POST-token-Origin"
    ),
    pytest.param(
        "POST", {"token": True, "Sec-Fetch-Site": "cross-site"}, 403, id="POST-token-cross-site"
    ),
    pytest.param(
        "POST", {"token": True, "Sec-Fetch-Site": "same-site"}, 403, id="POST-token-same-site"
    ),
    pytest.param(
        "OPTIONS",
        {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        405,
        id="CORS-preflight",
    ),
]


@pytest.mark.parametrize(("method", "headers", "status"), REFUSED)
def test_a_refused_drop_drops_no_session(
    platform: RunningPlatform, method: str, headers: dict[str, str | bool], status: int
) -> None:
    sent = {k: str(v) for k, v in headers.items() if k != "token"}
    if headers.get("token"):
        sent[ADMIN_TOKEN_HEADER] = platform.admin_token
    sockets = [ready_socket(platform, f"r{i}") for i in range(4)]
    response = request(platform, method, "/_harness/drop", sent)
    assert response.status == status
    assert_no_cors(response)
    if status == 405:
        assert response.headers["Allow"] == "POST"
    assert_alive(sockets)
    for ws in sockets:
        ws.close()


def test_stats_need_the_token_too(platform: RunningPlatform) -> None:
    assert request(platform, "GET", "/_harness/stats").status == 405
    assert request(platform, "POST", "/_harness/stats").status == 403
    origin = {ADMIN_TOKEN_HEADER: platform.admin_token, "Origin": "http://evil.example"}
    assert request(platform, "POST", "/_harness/stats", origin).status == 403
    assert "pid" in platform.stats()  # with the token, and no Origin, they answer


def test_the_token_drops_every_session(platform: RunningPlatform) -> None:
    sockets = [ready_socket(platform, f"d{i}") for i in range(4)]
    response = request(
        platform, "POST", "/_harness/drop", {ADMIN_TOKEN_HEADER: platform.admin_token}
    )
    assert response.status == 200
    assert_no_cors(response)
    assert [close_code(ws) for ws in sockets] == [1001] * 4
    sockets = [ready_socket(platform, f"e{i}") for i in range(2)]
    platform.drop_all()  # the same through EmbeddedPlatform
    assert [close_code(ws) for ws in sockets] == [1001] * 2


def test_sigusr1_still_drops_every_session(platform: RunningPlatform) -> None:
    sockets = [ready_socket(platform, f"u{i}") for i in range(4)]
    platform.process.send_signal(signal.SIGUSR1)  # with --workers, the parent forwards it
    assert [close_code(ws) for ws in sockets] == [1001] * 4


def test_embedded_platform_reports_a_refusal_as_one_harness_error(
    platform: RunningPlatform,
) -> None:
    with pytest.raises(HarnessError, match="HTTP 403 admin token missing or wrong"):
        admin_post(platform.base, "drop", "wrong-token-0123456789")


def test_each_start_announces_its_own_random_token() -> None:
    first = start_platform("--profile", "fast", env=harness_env())
    second = start_platform("--profile", "fast", env=harness_env())
    try:
        assert len(first.admin_token) >= 32 and len(second.admin_token) >= 32
        assert first.admin_token != second.admin_token
        with pytest.raises(HarnessError, match="403"):
            admin_post(first.base, "stats", second.admin_token)
        assert first.stats()["open"] == 0
    finally:
        first.stop()
        second.stop()


def test_a_fixed_admin_token_is_shared_by_every_worker(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    p = platform_factory("--profile", "fast", "--workers", "2", "--admin-token", FIXED_TOKEN)
    assert p.admin_token == FIXED_TOKEN
    pids = set()
    for _ in range(40):
        pids.add(json.loads(admin_post(p.base, "stats", FIXED_TOKEN))["pid"])
        if len(pids) == 2:
            break
    assert len(pids) == 2  # both workers took the fixed token


def test_a_short_admin_token_is_refused() -> None:
    result = run_harness("serve", "--port", "0", "--admin-token", "short")
    assert result.returncode == 2
    assert "--admin-token: needs 16 or more" in result.stderr


def serve_and_stop(host: str, token: str = "", **env: str) -> tuple[str, str]:
    """Start `serve --host HOST --port 0`, ask its stats over loopback (with `token`, else the
    one it announced), stop it: (stdout, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--host", host, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=harness_env(**env),
    )
    try:
        assert process.stdout is not None
        announce = process.stdout.readline()
        assert "listening on " in announce, announce
        port = int(announce.split("listening on ", 1)[1].split("/")[2].rsplit(":", 1)[1])
        token = token or announce.split("admin token ", 1)[1].split(";", 1)[0]
        assert "open" in json.loads(admin_post(f"ws://127.0.0.1:{port}", "stats", token))
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    return announce + out, err


def test_binding_every_address_warns_that_only_the_token_protects_the_admin_endpoints() -> None:
    _, err = serve_and_stop("0.0.0.0")
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1
    assert "0.0.0.0 is reachable from the network" in warning[0]
    assert "protected only by the admin token" in warning[0]


def test_binding_loopback_does_not_warn() -> None:
    out, err = serve_and_stop("127.0.0.1")
    assert "admin token " in out
    assert "warning" not in err


def test_the_admin_token_can_come_from_the_environment() -> None:
    serve_and_stop("127.0.0.1", FIXED_TOKEN, MIPTECH_ADMIN_TOKEN=FIXED_TOKEN)


def test_the_embedded_platform_ignores_an_admin_token_meant_for_an_external_target() -> None:
    p = start_platform("--profile", "fast", env=harness_env(MIPTECH_ADMIN_TOKEN=FIXED_TOKEN))
    try:
        assert p.admin_token != FIXED_TOKEN
        assert "open" in p.stats()
    finally:
        p.stop()
