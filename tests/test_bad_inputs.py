"""Every bad input gets one line and exit 2: never a traceback, never silently accepted.

A table of bad inputs across every command. `python -m harness` cases run in-process through
`harness.cli.main` (a representative few also as real processes); Locust cases run as real
processes, several at once, and must leave no run directory behind and not move
reports/latest. Exit 1 means a performance FAIL, so a crash would be the worst answer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from tests.conftest import ROOT, harness_env
from tests.rundirs import T0, hdr, run_body

DIR = None  # a file entry that is a directory
NOT_UTF8 = b"\xff\xfe\x00bad \xe9\n"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    names: str  # what the one error line must name: the setting, option or file
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)  # relative path -> text, bytes or DIR


def case(
    id: str,
    argv: list[str],
    names: str,
    env: dict[str, str] | None = None,
    files: dict[str, Any] | None = None,
) -> Case:
    return Case(id, tuple(argv), names, env or {}, files or {})


# -- a good run directory, and ways to spoil it ----------------------------------------------


def samples_csv(rows: int = 20) -> str:
    head = "session_id,phase,start,duration_us,ok,error,attempt,worker\n"
    return head + "".join(
        f"s{i},ready,{T0 + i / 10:.6f},{100_000 + i},1,,0,local\n" for i in range(rows)
    )


def run_dir(
    name: str = "run",
    run_json: Any = None,
    samples: Any = None,
    histograms: Any = None,
) -> dict[str, Any]:
    """Files of a run directory; run_json a dict (dumped) or raw text/bytes."""
    body = run_body() if run_json is None else run_json
    files = {
        f"{name}/run.json": body if isinstance(body, str | bytes) else json.dumps(body),
        f"{name}/samples/local.csv": samples_csv() if samples is None else samples,
    }
    if histograms is not None:
        files[f"{name}/histograms.json"] = histograms
    return files


def no_samples(**histograms: Any) -> dict[str, Any]:
    """A run of remote workers: no samples here, histograms only."""
    body = run_body(samples={"w": {"file": "samples/w.csv", "rows": 5, "host": "elsewhere"}})
    files = run_dir(run_json=body)
    del files["run/samples/local.csv"]
    hist = {
        "schema_version": 2,
        "phases": {"ready": {"count": 20, "errors": {}, "hdr": hdr(20)}},
        **histograms,
    }
    files["run/histograms.json"] = json.dumps(hist)
    return files


def baseline_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "version": 1,
        "created": "2026-09-21T12:00:00+00:00",
        "warmup_s": 5.0,
        "scenario": "smoke",
        "target": "ws://127.0.0.1:1",
        "runs": [{"run_id": "r1"}],
        "trials": {"ready": {"p50": [400.0], "p95": [480.0], "p99": [490.0]}},
        "blocks": {},
    }
    body.update(changes)
    return body


def baseline_file(body: Any, path: str = "reports/baseline/baseline.json") -> dict[str, Any]:
    return {path: body if isinstance(body, str | bytes) else json.dumps(body)}


def bench(text: str | bytes) -> dict[str, Any]:
    return {"b.toml": text, **run_dir()}


def scen(text: str | bytes) -> dict[str, Any]:
    return {"s.toml": text}


STAGE = "[[stages]]\nduration_s = 5\nusers = 1\nspawn_rate = 1\n"
CHECK = '[phases.ready]\nchecks = ["p95 < 600ms"]\n'
PROBE = ["probe", "--no-chat"]

# -- the table -------------------------------------------------------------------------------

ENV_CASES = [
    ("ws-url-port-99999", "MIPTECH_WS_URL", "ws://localhost:99999"),
    ("ws-url-port-abc", "MIPTECH_WS_URL", "ws://localhost:abc"),
    ("ws-url-port-0", "MIPTECH_WS_URL", "ws://localhost:0"),
    ("ws-url-port-empty", "MIPTECH_WS_URL", "ws://localhost:"),
    ("ws-url-http", "MIPTECH_WS_URL", "http://localhost:8000"),
    ("ws-url-bad-ipv6", "MIPTECH_WS_URL", "ws://[::1"),
    ("ws-url-space", "MIPTECH_WS_URL", "ws://local host:8000"),
    ("ws-url-no-host", "MIPTECH_WS_URL", "ws://:8000"),
    ("react-ws-url-no-scheme", "REACT_APP_MIPTECH_WS_URL", "localhost:8000"),
    ("connection-timeout-inf", "MIPTECH_CONNECTION_TIMEOUT_MS", "inf"),
    ("connection-timeout-nan", "MIPTECH_CONNECTION_TIMEOUT_MS", "nan"),
    ("connection-timeout-negative", "MIPTECH_CONNECTION_TIMEOUT_MS", "-5"),
    ("connection-timeout-zero", "MIPTECH_CONNECTION_TIMEOUT_MS", "0"),
    ("connection-timeout-text", "MIPTECH_CONNECTION_TIMEOUT_MS", "ten"),
    ("ready-timeout-minus-inf", "MIPTECH_READY_TIMEOUT_MS", "-inf"),
    ("chat-timeout-overflow", "MIPTECH_CHAT_TIMEOUT_MS", "1e999"),
    ("heartbeat-zero", "MIPTECH_HEARTBEAT_INTERVAL_MS", "0"),
    ("auth-delay-negative", "MIPTECH_AUTH_DELAY_MS", "-1"),
    ("auth-delay-NaN", "MIPTECH_AUTH_DELAY_MS", "NaN"),
    ("reconnect-attempts-text", "MIPTECH_MAX_RECONNECT_ATTEMPTS", "abc"),
    ("reconnect-attempts-fraction", "MIPTECH_MAX_RECONNECT_ATTEMPTS", "1.5"),
    ("reconnect-attempts-negative", "MIPTECH_MAX_RECONNECT_ATTEMPTS", "-1"),
    ("reconnect-jitter-2", "MIPTECH_RECONNECT_JITTER", "2"),
    ("reconnect-jitter-nan", "MIPTECH_RECONNECT_JITTER", "nan"),
    ("reconnect-delay-zero", "MIPTECH_RECONNECT_DELAY_MS", "0"),
    ("max-reconnect-delay-below-delay", "MIPTECH_MAX_RECONNECT_DELAY_MS", "10"),
    ("queue-limit-text", "MIPTECH_MESSAGE_QUEUE_LIMIT", "x"),
    ("breaker-threshold-zero", "MIPTECH_CIRCUIT_BREAKER_THRESHOLD", "0"),
    ("breaker-timeout-inf", "MIPTECH_CIRCUIT_BREAKER_TIMEOUT_MS", "inf"),
    ("max-message-length-zero", "MIPTECH_MAX_MESSAGE_LENGTH", "0"),
    ("react-max-message-length-text", "REACT_APP_CHAT_MAX_MESSAGE_LENGTH", "many"),
    ("react-rate-window-inf", "REACT_APP_RATE_LIMIT_WINDOW", "inf"),
    ("rate-requests-zero", "MIPTECH_RATE_LIMIT_REQUESTS", "0"),
    ("react-chat-retries-negative", "REACT_APP_CHAT_MAX_RETRIES", "-1"),
    ("react-chat-retry-delay-negative", "REACT_APP_CHAT_RETRY_DELAY", "-3"),
    ("max-frame-bytes-zero", "MIPTECH_MAX_FRAME_BYTES", "0"),
    ("max-json-depth-501", "MIPTECH_MAX_JSON_DEPTH", "501"),
    ("tls-verify-maybe", "MIPTECH_TLS_VERIFY", "maybe"),
    ("debug-2", "MIPTECH_DEBUG", "2"),
    ("react-discovery-yesplease", "REACT_APP_ENABLE_ENDPOINT_DISCOVERY", "yesplease"),
    ("tenant-space", "MIPTECH_TENANT_ID", "a b"),
    ("tenant-empty", "MIPTECH_TENANT_ID", ""),
    ("endpoint-no-slash", "MIPTECH_ENDPOINT", "noslash"),
    ("endpoint-query", "MIPTECH_ENDPOINT", "/a?b=1"),
    ("page-url-ftp", "MIPTECH_PAGE_URL", "ftp://example.com/"),
    ("page-url-port-99999", "MIPTECH_PAGE_URL", "http://localhost:99999/"),
    ("user-agent-control", "MIPTECH_USER_AGENT", "agent\x01x"),
    ("ca-bundle-missing", "MIPTECH_CA_BUNDLE", "/nonexistent/ca.pem"),
]

CASES: list[Case] = [
    case(f"env-{id}", [*PROBE], name, env={name: value}) for id, name, value in ENV_CASES
]
CASES += [
    case(
        "env-ca-bundle-directory",
        [*PROBE],
        "MIPTECH_CA_BUNDLE",
        {"MIPTECH_CA_BUNDLE": "d"},
        {"d": DIR},
    ),
    # .env files
    case("dotenv-not-utf8", [*PROBE], ".env", files={".env": b"MIPTECH_TENANT_ID=caf\xe9\n"}),
    case("dotenv-binary", [*PROBE], ".env", files={".env": NOT_UTF8}),
    case(
        "dotenv-port", [*PROBE], "MIPTECH_WS_URL", files={".env": "MIPTECH_WS_URL=ws://h:99999\n"}
    ),
    case(
        "dotenv-inf",
        [*PROBE],
        "MIPTECH_CHAT_TIMEOUT_MS",
        files={".env": "MIPTECH_CHAT_TIMEOUT_MS=inf\n"},
    ),
    case(
        "dotenv-react-tenant",
        [*PROBE],
        "REACT_APP_MIPTECH_TENANT_ID",
        files={".env": "REACT_APP_MIPTECH_TENANT_ID=no way!\n"},
    ),
    case("env-file-directory", [*PROBE, "--env-file", "d"], "--env-file", files={"d": DIR}),
    case("env-file-missing", [*PROBE, "--env-file", "nope.env"], "--env-file"),
    case("env-file-not-utf8", [*PROBE, "--env-file", "x.env"], "x.env", files={"x.env": NOT_UTF8}),
    # probe and discover: refused before any connection
    case("probe-url-port-99999", [*PROBE, "--url", "ws://localhost:99999"], "ws_url"),
    case("probe-url-port-abc", [*PROBE, "--url", "ws://localhost:abc"], "ws_url"),
    case("probe-url-http", [*PROBE, "--url", "http://localhost:8000"], "ws_url"),
    case("probe-url-bad-ipv6", [*PROBE, "--url", "ws://[::1"], "ws_url"),
    case("probe-url-no-scheme", [*PROBE, "--url", "localhost:8000"], "ws_url"),
    case("probe-url-endpoint-space", [*PROBE, "--url", "ws://localhost:8000/a b"], "endpoint"),
    case("probe-tenant-bad", [*PROBE, "--tenant", "bad tenant"], "tenant_id"),
    case("probe-endpoint-no-slash", [*PROBE, "--endpoint", "chat"], "endpoint"),
    case("probe-ca-bundle-missing", [*PROBE, "--ca-bundle", "none.pem"], "ca_bundle"),
    case("probe-message-empty", ["probe", "--message", ""], "--message"),
    case("probe-message-too-long", ["probe", "--message", "x" * 4001], "--message"),
    case("probe-embedded-unknown-profile", ["probe", "--embedded", "nosuch"], "--embedded"),
    case("discover-timeout-zero", ["discover", "--timeout-ms", "0"], "--timeout-ms"),
    case("discover-timeout-nan", ["discover", "--timeout-ms", "nan"], "--timeout-ms"),
    case("discover-timeout-negative", ["discover", "--timeout-ms", "-1"], "--timeout-ms"),
    case("discover-timeout-inf", ["discover", "--timeout-ms", "inf"], "--timeout-ms"),
    case("discover-timeout-text", ["discover", "--timeout-ms", "soon"], "--timeout-ms"),
    case("discover-url-port", ["discover", "--url", "ws://h:99999"], "ws_url"),
    case("discover-tenant-empty", ["discover", "--tenant", "a/b"], "tenant_id"),
    case("discover-env-port", ["discover"], "MIPTECH_WS_URL", {"MIPTECH_WS_URL": "ws://h:abc"}),
    # serve: refused before it binds
    case("serve-set-nan", ["serve", "--set", "init_ms=nan"], "init_ms"),
    case("serve-set-inf", ["serve", "--set", "init_ms=inf"], "init_ms"),
    case("serve-set-negative", ["serve", "--set", "init_ms=-1"], "init_ms"),
    case("serve-set-text", ["serve", "--set", "init_ms=slow"], "init_ms"),
    case(
        "serve-set-rate-over-1", ["serve", "--set", "ready_timeout_rate=1.5"], "ready_timeout_rate"
    ),
    case("serve-set-chunks-zero", ["serve", "--set", "chat_chunks=0"], "chat_chunks"),
    case("serve-set-chunks-fraction", ["serve", "--set", "chat_chunks=2.5"], "chat_chunks"),
    case("serve-set-bool-maybe", ["serve", "--set", "send_done=maybe"], "send_done"),
    case("serve-set-gap-sigma-nan", ["serve", "--set", "chat_chunk_gap_sigma=nan"], "sigma"),
    case("serve-set-gap-sigma-over-3", ["serve", "--set", "chat_chunk_gap_sigma=4"], "sigma"),
    case("serve-set-unknown", ["serve", "--set", "nosuch=1"], "nosuch"),
    case("serve-set-no-equals", ["serve", "--set", "init_ms"], "--set"),
    case("serve-set-min-over-max", ["serve", "--set", "init_min_ms=900"], "init_min_ms"),
    case(
        "serve-set-rates-over-1",
        ["serve", "--set", "ready_timeout_rate=0.6", "--set", "server_error_rate=0.6"],
        "server_error_rate",
    ),
    case("serve-set-huge-delay", ["serve", "--set", "chat_first_ms=1e300"], "chat_first_ms"),
    case("serve-profile-unknown", ["serve", "--profile", "nosuch"], "profile"),
    case("serve-auth-timeout-negative", ["serve", "--auth-timeout-ms", "-5"], "--auth-timeout-ms"),
    case("serve-auth-timeout-nan", ["serve", "--auth-timeout-ms", "nan"], "--auth-timeout-ms"),
    case("serve-auth-timeout-zero", ["serve", "--auth-timeout-ms", "0"], "--auth-timeout-ms"),
    case("serve-endpoint-no-slash", ["serve", "--endpoint", "noslash"], "--endpoint"),
    case("serve-endpoint-space", ["serve", "--endpoint", "/a b"], "--endpoint"),
    case("serve-port-70000", ["serve", "--port", "70000"], "--port"),
    case("serve-port-negative", ["serve", "--port", "-1"], "--port"),
    case("serve-port-text", ["serve", "--port", "http"], "--port"),
    case("serve-workers-zero", ["serve", "--workers", "0"], "--workers"),
    case("serve-workers-1000", ["serve", "--workers", "1000"], "--workers"),
    case("serve-seed-text", ["serve", "--seed", "x"], "--seed"),
    case("serve-seed-negative", ["serve", "--seed", "-3"], "--seed"),
    case("serve-tenant-bad", ["serve", "--tenant", "no way"], "--tenant"),
    case(
        "serve-certfile-alone", ["serve", "--certfile", "c.pem"], "--certfile", files={"c.pem": "x"}
    ),
    case("serve-cert-missing", ["serve", "--certfile", "c.pem", "--keyfile", "k.pem"], "c.pem"),
    case(
        "serve-ground-truth-file",
        ["serve", "--ground-truth", "f"],
        "--ground-truth",
        files={"f": "x"},
    ),
    # report: the run directory
    case("report-missing-dir", ["report", "nowhere"], "nowhere"),
    case("report-file-not-dir", ["report", "f"], "f", files={"f": "x"}),
    case("report-dir-without-run-json", ["report", "d"], "d", files={"d": DIR}),
    case("run-json-not-json", ["report", "run"], "run.json", files=run_dir(run_json="{not json")),
    case("run-json-not-utf8", ["report", "run"], "run.json", files=run_dir(run_json=NOT_UTF8)),
    case("run-json-list", ["report", "run"], "run.json", files=run_dir(run_json="[1, 2]")),
    case(
        "run-json-truncated",
        ["report", "run"],
        "run.json",
        files=run_dir(run_json=json.dumps(run_body())[:120]),
    ),
    case("run-json-empty", ["report", "run"], "run.json", files=run_dir(run_json="")),
    case("run-json-deep", ["report", "run"], "run.json", files=run_dir(run_json="[" * 100_000)),
    case("run-json-directory", ["report", "run"], "run", files={"run/run.json": DIR}),
    case(
        "run-json-schema-99",
        ["report", "run"],
        "schema_version",
        files=run_dir(run_json=run_body(schema_version=99)),
    ),
    case(
        "run-json-schema-text",
        ["report", "run"],
        "schema_version",
        files=run_dir(run_json=run_body(schema_version="2")),
    ),
    case(
        "run-json-schema-true",
        ["report", "run"],
        "schema_version",
        files=run_dir(run_json=run_body(schema_version=True)),
    ),
    case(
        "run-json-health-text",
        ["report", "run"],
        "health",
        files=run_dir(run_json=run_body(health="fine")),
    ),
    case(
        "run-json-health-null",
        ["report", "run"],
        "health",
        files=run_dir(run_json=run_body(health=None)),
    ),
    case(
        "run-json-health-reasons-text",
        ["report", "run"],
        "reasons",
        files=run_dir(run_json=run_body(health={"valid": False, "reasons": "bad"})),
    ),
    case(
        "run-json-started-text-count",
        ["report", "run"],
        "started",
        files=run_dir(run_json=run_body(accounting={"total": {"started": "many"}})),
    ),
    case(
        "run-json-failed-list",
        ["report", "run"],
        "failed",
        files=run_dir(run_json=run_body(accounting={"total": {"failed": [1]}})),
    ),
    case(
        "run-json-failed-count-text",
        ["report", "run"],
        "failed",
        files=run_dir(run_json=run_body(accounting={"total": {"failed": {"dropped": "2"}}})),
    ),
    case(
        "run-json-accounting-list",
        ["report", "run"],
        "accounting",
        files=run_dir(run_json=run_body(accounting=[])),
    ),
    case(
        "run-json-samples-list",
        ["report", "run"],
        "samples",
        files=run_dir(run_json=run_body(samples=[])),
    ),
    case(
        "run-json-samples-entry-number",
        ["report", "run"],
        "samples",
        files=run_dir(run_json=run_body(samples={"w": 5})),
    ),
    case(
        "run-json-samples-rows-text",
        ["report", "run"],
        "samples",
        files=run_dir(run_json=run_body(samples={"w": {"file": "samples/w.csv", "rows": "x"}})),
    ),
    case(
        "run-json-workers-lost-table",
        ["report", "run"],
        "workers_lost",
        files=run_dir(run_json=run_body(workers_lost={})),
    ),
    case(
        "run-json-cpu-timeline-bad-pair",
        ["report", "run"],
        "cpu_timeline",
        files=run_dir(
            run_json=run_body(health={"valid": True, "processes": {"p": {"cpu_timeline": [[1]]}}})
        ),
    ),
    case(
        "run-json-users-timeline-text",
        ["report", "run"],
        "users_timeline",
        files=run_dir(
            run_json=run_body(health={"valid": True, "processes": {"p": {"users_timeline": "x"}}})
        ),
    ),
    case(
        "run-json-locust-text",
        ["report", "run"],
        "locust",
        files=run_dir(run_json=run_body(locust="x")),
    ),
    case(
        "run-json-host-list",
        ["report", "run"],
        "host",
        files=run_dir(run_json=run_body(host=["h"])),
    ),
    case(
        "run-json-embedded-args-text",
        ["report", "run"],
        "embedded_platform",
        files=run_dir(run_json=run_body(embedded_platform={"args": "x"})),
    ),
    case(
        "run-json-planned-text",
        ["report", "run"],
        "planned_s",
        files=run_dir(run_json=run_body(planned_s="ten")),
    ),
    case(
        "run-json-status-number",
        ["report", "run"],
        "status",
        files=run_dir(run_json=run_body(status=3)),
    ),
    case(
        "histograms-not-json",
        ["report", "run"],
        "histograms.json",
        files={**no_samples(), "run/histograms.json": "{"},
    ),
    case(
        "histograms-not-utf8",
        ["report", "run"],
        "histograms.json",
        files={**no_samples(), "run/histograms.json": NOT_UTF8},
    ),
    case("histograms-phases-list", ["report", "run"], "phases", files=no_samples(phases=[])),
    case(
        "histograms-hdr-junk",
        ["report", "run"],
        "hdr",
        files=no_samples(phases={"ready": {"hdr": "abc"}}),
    ),
    case(
        "histograms-hdr-number",
        ["report", "run"],
        "hdr",
        files=no_samples(phases={"ready": {"hdr": 5}}),
    ),
    case(
        "histograms-errors-text",
        ["report", "run"],
        "errors",
        files=no_samples(phases={"ready": {"errors": {"x": "y"}}}),
    ),
    case(
        "histograms-phase-text", ["report", "run"], "ready", files=no_samples(phases={"ready": "x"})
    ),
    case(
        "histograms-schema-1000",
        ["report", "run"],
        "schema_version",
        files=no_samples(schema_version=1000),
    ),
    case(
        "no-samples-no-histograms",
        ["report", "run"],
        "run",
        files={"run/run.json": json.dumps(run_body(samples={})), "run/samples": DIR},
    ),
    case(
        "samples-not-utf8",
        ["report", "run"],
        "local.csv",
        files=run_dir(
            samples=b"session_id,phase,start,duration_us,ok,error,attempt,worker\n" + NOT_UTF8 * 3
        ),
    ),
    case(
        "samples-duration-text",
        ["report", "run"],
        "local.csv",
        files=run_dir(samples=samples_csv().replace(",100001,", ",slow,")),
    ),
    case(
        "samples-chunks-text",
        ["report", "run"],
        "local.csv",
        files=run_dir(
            samples=samples_csv()
            .replace(",worker\n", ",worker,chunks,chars_per_s\n", 1)
            .replace(",0,local\n", ",0,local,four,12.5\n")
        ),
    ),
    case(
        "samples-missing-columns",
        ["report", "run"],
        "local.csv",
        files=run_dir(samples="a,b\n1,2\n"),
    ),
    case(
        "samples-start-nan",
        ["report", "run"],
        "samples",
        files=run_dir(samples=samples_csv().replace(f"{T0 + 0.1:.6f}", "nan")),
    ),
    case(
        "samples-duration-overflow",
        ["report", "run"],
        "local.csv",
        files=run_dir(samples=samples_csv().replace(",100001,", ",99999999999999999999999,")),
    ),
    # report: the benchmark table
    case("bench-missing", ["report", "run", "--benchmarks", "no.toml"], "no.toml", files=run_dir()),
    case(
        "bench-directory",
        ["report", "run", "--benchmarks", "d"],
        "d",
        files={**run_dir(), "d": DIR},
    ),
    case(
        "bench-not-utf8",
        ["report", "run", "--benchmarks", "b.toml"],
        "b.toml",
        files=bench(NOT_UTF8),
    ),
    case("bench-empty", ["report", "run", "--benchmarks", "b.toml"], "no checks", files=bench("")),
    case(
        "bench-errors-only",
        ["report", "run", "--benchmarks", "b.toml"],
        "no checks",
        files=bench('[errors]\n"*" = "rate < 1%"\n'),
    ),
    case(
        "bench-phase-no-checks",
        ["report", "run", "--benchmarks", "b.toml"],
        "no checks",
        files=bench('[phases.ready]\ndocumented = "400-600ms"\n'),
    ),
    case(
        "bench-number-1.2.3",
        ["report", "run", "--benchmarks", "b.toml"],
        "checks",
        files=bench('[phases.ready]\nchecks = ["p95 < 1.2.3ms"]\n'),
    ),
    case(
        "bench-number-dot",
        ["report", "run", "--benchmarks", "b.toml"],
        "checks",
        files=bench('[phases.ready]\nchecks = ["p95 < .ms"]\n'),
    ),
    case(
        "bench-number-missing",
        ["report", "run", "--benchmarks", "b.toml"],
        "checks",
        files=bench('[phases.ready]\nchecks = ["p95 < ms"]\n'),
    ),
    case(
        "bench-checks-number",
        ["report", "run", "--benchmarks", "b.toml"],
        "checks",
        files=bench("[phases.ready]\nchecks = 5\n"),
    ),
    case(
        "bench-checks-list-of-numbers",
        ["report", "run", "--benchmarks", "b.toml"],
        "checks",
        files=bench("[phases.ready]\nchecks = [5]\n"),
    ),
    case(
        "bench-phase-unknown",
        ["report", "run", "--benchmarks", "b.toml"],
        "phases.nosuch",
        files=bench('[phases.nosuch]\nchecks = ["p95 < 1s"]\n'),
    ),
    case(
        "bench-phase-not-table",
        ["report", "run", "--benchmarks", "b.toml"],
        "phases.ready",
        files=bench('[phases]\nready = "p95 < 1s"\n'),
    ),
    case(
        "bench-phases-list",
        ["report", "run", "--benchmarks", "b.toml"],
        "phases",
        files=bench("phases = []\n"),
    ),
    case(
        "bench-documented-reversed",
        ["report", "run", "--benchmarks", "b.toml"],
        "documented",
        files=bench(CHECK + 'documented = "500-300ms"\n'),
    ),
    case(
        "bench-documented-number",
        ["report", "run", "--benchmarks", "b.toml"],
        "documented",
        files=bench(CHECK + "documented = 5\n"),
    ),
    case(
        "bench-description-number",
        ["report", "run", "--benchmarks", "b.toml"],
        "description",
        files=bench(CHECK + "description = 5\n"),
    ),
    case(
        "bench-rate-over-100",
        ["report", "run", "--benchmarks", "b.toml"],
        "ready_timeout",
        files=bench(CHECK + '[errors]\nready_timeout = "rate < 150%"\n'),
    ),
    case(
        "bench-rate-text",
        ["report", "run", "--benchmarks", "b.toml"],
        "ready_timeout",
        files=bench(CHECK + '[errors]\nready_timeout = "rate < abc%"\n'),
    ),
    case(
        "bench-rate-number",
        ["report", "run", "--benchmarks", "b.toml"],
        "ready_timeout",
        files=bench(CHECK + "[errors]\nready_timeout = 1\n"),
    ),
    case(
        "bench-error-class-unknown",
        ["report", "run", "--benchmarks", "b.toml"],
        "nosuch",
        files=bench(CHECK + '[errors]\nnosuch = "rate < 1%"\n'),
    ),
    case(
        "bench-errors-text",
        ["report", "run", "--benchmarks", "b.toml"],
        "errors",
        files=bench(CHECK + 'errors = "none"\n'),
    ),
    case(
        "bench-warmup-nan",
        ["report", "run", "--benchmarks", "b.toml"],
        "warmup_s",
        files=bench(CHECK + "[analysis]\nwarmup_s = nan\n"),
    ),
    case(
        "bench-warmup-inf",
        ["report", "run", "--benchmarks", "b.toml"],
        "warmup_s",
        files=bench(CHECK + "[analysis]\nwarmup_s = inf\n"),
    ),
    case(
        "bench-warmup-negative",
        ["report", "run", "--benchmarks", "b.toml"],
        "warmup_s",
        files=bench(CHECK + "[analysis]\nwarmup_s = -1\n"),
    ),
    case(
        "bench-warmup-text",
        ["report", "run", "--benchmarks", "b.toml"],
        "warmup_s",
        files=bench(CHECK + '[analysis]\nwarmup_s = "5"\n'),
    ),
    case(
        "bench-confidence-nan",
        ["report", "run", "--benchmarks", "b.toml"],
        "confidence",
        files=bench(CHECK + "[analysis]\nconfidence = nan\n"),
    ),
    case(
        "bench-confidence-1",
        ["report", "run", "--benchmarks", "b.toml"],
        "confidence",
        files=bench(CHECK + "[analysis]\nconfidence = 1\n"),
    ),
    case(
        "bench-analysis-number",
        ["report", "run", "--benchmarks", "b.toml"],
        "analysis",
        files=bench(CHECK + "analysis = 3\n"),
    ),
    case(
        "bench-analysis-unknown-key",
        ["report", "run", "--benchmarks", "b.toml"],
        "colour",
        files=bench(CHECK + "[analysis]\ncolour = 1\n"),
    ),
    case(
        "bench-unknown-table",
        ["report", "run", "--benchmarks", "b.toml"],
        "thresholds",
        files=bench(CHECK + "[thresholds]\nx = 1\n"),
    ),
    case(
        "bench-not-toml",
        ["report", "run", "--benchmarks", "b.toml"],
        "b.toml",
        files=bench("= = ="),
    ),
    case("report-warmup-nan", ["report", "run", "--warmup", "nan"], "--warmup"),
    case("report-warmup-negative", ["report", "run", "--warmup", "-1"], "--warmup"),
    case("report-warmup-inf", ["report", "run", "--warmup", "inf"], "--warmup"),
    case("report-warmup-text", ["report", "run", "--warmup", "later"], "--warmup"),
    # compare
    case("compare-min-change-nan", ["compare", "a", "b", "--min-change", "nan"], "--min-change"),
    case(
        "compare-min-change-negative", ["compare", "a", "b", "--min-change", "-50"], "--min-change"
    ),
    case("compare-min-change-zero", ["compare", "a", "b", "--min-change", "0"], "--min-change"),
    case("compare-min-change-inf", ["compare", "a", "b", "--min-change", "inf"], "--min-change"),
    case("compare-min-change-huge", ["compare", "a", "b", "--min-change", "1e6"], "--min-change"),
    case("compare-warmup-nan", ["compare", "a", "b", "--warmup", "nan"], "--warmup"),
    case("compare-warmup-negative", ["compare", "a", "b", "--warmup", "-1"], "--warmup"),
    case("compare-baseline-missing", ["compare", "b.json", "run"], "b.json", files=run_dir()),
    case(
        "compare-baseline-not-json",
        ["compare", "b.json", "run"],
        "b.json",
        files={**run_dir(), **baseline_file("{", "b.json")},
    ),
    case(
        "compare-baseline-not-utf8",
        ["compare", "b.json", "run"],
        "b.json",
        files={**run_dir(), **baseline_file(NOT_UTF8, "b.json")},
    ),
    case(
        "compare-baseline-list",
        ["compare", "b.json", "run"],
        "b.json",
        files={**run_dir(), **baseline_file("[]", "b.json")},
    ),
    case(
        "compare-baseline-directory",
        ["compare", "b.json", "run"],
        "b.json",
        files={**run_dir(), "b.json": DIR},
    ),
    case(
        "compare-baseline-schema-2",
        ["compare", "b.json", "run"],
        "schema_version",
        files={**run_dir(), **baseline_file(baseline_body(schema_version=2), "b.json")},
    ),
    case(
        "compare-baseline-no-trials",
        ["compare", "b.json", "run"],
        "trials",
        files={
            **run_dir(),
            **baseline_file({k: v for k, v in baseline_body().items() if k != "trials"}, "b.json"),
        },
    ),
    case(
        "compare-baseline-trials-list",
        ["compare", "b.json", "run"],
        "trials",
        files={**run_dir(), **baseline_file(baseline_body(trials={"ready": [1]}), "b.json")},
    ),
    case(
        "compare-baseline-trials-nan",
        ["compare", "b.json", "run"],
        "trials",
        files={
            **run_dir(),
            **baseline_file(baseline_body(trials={"ready": {"p50": [float("nan")]}}), "b.json"),
        },
    ),
    case(
        "compare-baseline-trials-negative",
        ["compare", "b.json", "run"],
        "trials",
        files={
            **run_dir(),
            **baseline_file(baseline_body(trials={"ready": {"p50": [-4]}}), "b.json"),
        },
    ),
    case(
        "compare-baseline-runs-text",
        ["compare", "b.json", "run"],
        "runs",
        files={**run_dir(), **baseline_file(baseline_body(runs="r1"), "b.json")},
    ),
    case("compare-current-missing", ["compare", "run", "gone"], "gone", files=run_dir()),
    case("compare-current-not-a-run", ["compare", "run", "d"], "d", files={**run_dir(), "d": DIR}),
    case(
        "compare-baseline-run-invalid",
        ["compare", "run", "run"],
        "not a valid run",
        files=run_dir(run_json=run_body(health={"valid": False, "reasons": ["lag"]})),
    ),
    case(
        "compare-run-json-list", ["compare", "run", "run"], "run.json", files=run_dir(run_json="[]")
    ),
    # nightly: refused before the first trial
    case("nightly-trials-zero", ["nightly", "--trials", "0"], "--trials"),
    case("nightly-trials-negative", ["nightly", "--trials", "-1"], "--trials"),
    case("nightly-trials-text", ["nightly", "--trials", "five"], "--trials"),
    case("nightly-warmup-nan", ["nightly", "--warmup", "nan"], "--warmup"),
    case("nightly-warmup-negative", ["nightly", "--warmup", "-5"], "--warmup"),
    case("nightly-min-change-nan", ["nightly", "--min-change", "nan"], "--min-change"),
    case("nightly-min-change-negative", ["nightly", "--min-change", "-50"], "--min-change"),
    case("nightly-scenario-unknown", ["nightly", "--scenario", "nosuch"], "--scenario"),
    case("nightly-host-port", ["nightly", "--host", "ws://h:99999"], "--host"),
    case("nightly-host-http", ["nightly", "--host", "http://h:8000"], "--host"),
    case(
        "nightly-platform-profile",
        ["nightly", "--platform-profile", "nosuch"],
        "--platform-profile",
    ),
    case(
        "nightly-reports-dir-file",
        ["nightly", "--reports-dir", "f"],
        "--reports-dir",
        files={"f": "x"},
    ),
    case("nightly-baseline-damaged", ["nightly"], "baseline.json", files=baseline_file("{")),
    case(
        "nightly-baseline-wrong-shape",
        ["nightly"],
        "baseline.json",
        files=baseline_file(baseline_body(blocks=[])),
    ),
    # baseline set / show, trends
    case("baseline-show-none", ["baseline", "show"], "baseline"),
    case(
        "baseline-show-not-json", ["baseline", "show"], "baseline.json", files=baseline_file("nope")
    ),
    case("baseline-show-list", ["baseline", "show"], "baseline.json", files=baseline_file("[]")),
    case(
        "baseline-show-directory",
        ["baseline", "show"],
        "baseline.json",
        files={"reports/baseline/baseline.json": DIR},
    ),
    case(
        "baseline-show-not-utf8",
        ["baseline", "show"],
        "baseline.json",
        files=baseline_file(NOT_UTF8),
    ),
    case(
        "baseline-show-no-created",
        ["baseline", "show"],
        "created",
        files=baseline_file({k: v for k, v in baseline_body().items() if k != "created"}),
    ),
    case(
        "baseline-show-version-text",
        ["baseline", "show"],
        "version",
        files=baseline_file(baseline_body(version="1")),
    ),
    case(
        "baseline-show-reports-dir-file",
        ["baseline", "show", "--reports-dir", "f"],
        "--reports-dir",
        files={"f": "x"},
    ),
    case("baseline-set-missing-run", ["baseline", "set", "gone"], "gone"),
    case("baseline-set-not-a-run", ["baseline", "set", "d"], "d", files={"d": DIR}),
    case(
        "baseline-set-run-json-list",
        ["baseline", "set", "run"],
        "run.json",
        files=run_dir(run_json="[]"),
    ),
    case("baseline-set-warmup-nan", ["baseline", "set", "run", "--warmup", "nan"], "--warmup"),
    case("baseline-set-warmup-negative", ["baseline", "set", "run", "--warmup", "-1"], "--warmup"),
    case(
        "baseline-set-reports-dir-file",
        ["baseline", "set", "run", "--reports-dir", "f"],
        "--reports-dir",
        files={**run_dir(), "f": "x"},
    ),
    case(
        "trends-reports-dir-file",
        ["trends", "--reports-dir", "f"],
        "--reports-dir",
        files={"f": "x"},
    ),
    case("trends-baseline-damaged", ["trends"], "baseline.json", files=baseline_file("{")),
]

SCENARIO_CASES: list[tuple[str, str | bytes, str]] = [
    ("think-time-text", '[users]\nthink_time_s = ["a", "b"]\n' + STAGE, "think_time_s"),
    ("think-time-reversed", "[users]\nthink_time_s = [3, 1]\n" + STAGE, "think_time_s"),
    ("think-time-nan", "[users]\nthink_time_s = [nan, 1]\n" + STAGE, "think_time_s"),
    ("think-time-inf", "[users]\nthink_time_s = [1, inf]\n" + STAGE, "think_time_s"),
    ("think-time-number", "[users]\nthink_time_s = 5\n" + STAGE, "think_time_s"),
    ("think-time-three", "[users]\nthink_time_s = [1, 2, 3]\n" + STAGE, "think_time_s"),
    ("platform-number", "platform = 3\n" + STAGE, "platform"),
    ("platform-profile-number", "[platform]\nprofile = 5\n" + STAGE, "profile"),
    ("platform-profile-unknown", '[platform]\nprofile = "nosuch"\n' + STAGE, "platform"),
    ("platform-workers-text", '[platform]\nworkers = "x"\n' + STAGE, "workers"),
    ("platform-workers-zero", "[platform]\nworkers = 0\n" + STAGE, "workers"),
    ("platform-workers-fraction", "[platform]\nworkers = 1.5\n" + STAGE, "workers"),
    ("platform-seed-text", '[platform]\nseed = "x"\n' + STAGE, "seed"),
    ("platform-seed-negative", "[platform]\nseed = -1\n" + STAGE, "seed"),
    ("platform-knobs-number", "[platform]\nknobs = 3\n" + STAGE, "knobs"),
    ("platform-knobs-list-value", "[platform.knobs]\ninit_ms = [1]\n" + STAGE, "knobs"),
    ("platform-knob-nan", "[platform.knobs]\ninit_ms = nan\n" + STAGE, "init_ms"),
    ("platform-knob-unknown", "[platform.knobs]\nnosuch = 1\n" + STAGE, "nosuch"),
    ("platform-unknown-key", "[platform]\ncolour = 1\n" + STAGE, "colour"),
    ("drop-at-text", 'drop_at_s = "soon"\n' + STAGE, "drop_at_s"),
    ("drop-at-negative", "drop_at_s = -1\n" + STAGE, "drop_at_s"),
    ("drop-at-nan", "drop_at_s = nan\n" + STAGE, "drop_at_s"),
    ("health-number", "health = 3\n" + STAGE, "health"),
    ("health-lag-zero", "[health]\nmax_loop_lag_ms = 0\n" + STAGE, "max_loop_lag_ms"),
    ("health-lag-nan", "[health]\nmax_loop_lag_ms = nan\n" + STAGE, "max_loop_lag_ms"),
    ("health-lag-text", '[health]\nmax_loop_lag_ms = "10"\n' + STAGE, "max_loop_lag_ms"),
    ("health-unknown-key", "[health]\nlag = 1\n" + STAGE, "health"),
    ("settings-number", "settings = 3\n" + STAGE, "settings"),
    ("description-number", "description = 5\n" + STAGE, "description"),
    ("user-class-number", "user_class = 3\n" + STAGE, "user_class"),
    ("stages-number", "stages = 3\n", "stages"),
    ("stages-table", "[stages]\nduration_s = 5\nusers = 1\nspawn_rate = 1\n", "stages"),
    ("stages-numbers", "stages = [1, 2]\n", "stages[0]"),
    ("stage-users-negative", "[[stages]]\nduration_s = 5\nusers = -1\nspawn_rate = 1\n", "users"),
    ("stage-users-fraction", "[[stages]]\nduration_s = 5\nusers = 1.5\nspawn_rate = 1\n", "users"),
    (
        "stage-spawn-rate-zero",
        "[[stages]]\nduration_s = 5\nusers = 1\nspawn_rate = 0\n",
        "spawn_rate",
    ),
    (
        "stage-duration-zero",
        "[[stages]]\nduration_s = 0\nusers = 1\nspawn_rate = 1\n",
        "duration_s",
    ),
    (
        "stage-duration-nan",
        "[[stages]]\nduration_s = nan\nusers = 1\nspawn_rate = 1\n",
        "duration_s",
    ),
    (
        "stage-duration-inf",
        "[[stages]]\nduration_s = inf\nusers = 1\nspawn_rate = 1\n",
        "duration_s",
    ),
    ("stage-missing-users", "[[stages]]\nduration_s = 5\nspawn_rate = 1\n", "stages[0]"),
    ("arrival-rate-zero", "[arrival]\nrate = 0\nduration_s = 5\n", "rate"),
    ("arrival-rate-inf", "[arrival]\nrate = inf\nduration_s = 5\n", "rate"),
    ("arrival-duration-zero", "[arrival]\nrate = 1\nduration_s = 0\n", "duration_s"),
    (
        "arrival-schedulers-zero",
        "[arrival]\nrate = 1\nduration_s = 5\nschedulers = 0\n",
        "schedulers",
    ),
    (
        "arrival-process-burst",
        '[arrival]\nrate = 1\nduration_s = 5\nprocess = "burst"\n',
        "process",
    ),
    ("arrival-seed-fraction", "[arrival]\nrate = 1\nduration_s = 5\nseed = 1.5\n", "seed"),
    ("arrival-drain-negative", "[arrival]\nrate = 1\nduration_s = 5\ndrain_s = -1\n", "drain_s"),
    ("arrival-number", "arrival = 1\n", "arrival"),
    ("users-message-length-zero", "[users]\nmessage_length = 0\n" + STAGE, "message_length"),
    ("users-chats-negative", "[users]\nchats_per_session = -1\n" + STAGE, "chats_per_session"),
    ("users-pause-minus-inf", "[users]\npause_s = -inf\n" + STAGE, "pause_s"),
    ("users-chat-interval-zero", "[users]\nchat_interval_s = 0\n" + STAGE, "chat_interval_s"),
    ("users-start-spread-nan", "[users]\nstart_spread_s = nan\n" + STAGE, "start_spread_s"),
    (
        "users-session-duration-text",
        '[users]\nsession_duration_s = "1h"\n' + STAGE,
        "session_duration_s",
    ),
    ("users-number", "users = 3\n" + STAGE, "users"),
    ("users-unknown-key", "[users]\nchats = 1\n" + STAGE, "chats"),
    ("unknown-key", "colour = 1\n" + STAGE, "colour"),
    ("no-shape", 'description = "nothing"\n', "stages"),
    ("not-toml", "= = =", "s.toml"),
    ("not-utf8", NOT_UTF8, "s.toml"),
]
CASES += [
    case(f"scenario-{id}", ["nightly", "--scenario", "s.toml"], names, files=scen(text))
    for id, text, names in SCENARIO_CASES
]
CASES.append(
    case("scenario-directory", ["nightly", "--scenario", "d.toml"], "d.toml", files={"d.toml": DIR})
)


def _check_ids_unique(cases: list[Case]) -> None:
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]


_check_ids_unique(CASES)


def make_files(root: Path, files: dict[str, Any]) -> None:
    for rel, content in files.items():
        path = root / rel
        if content is DIR:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def assert_one_line(code: int | str | None, out: str, err: str, names: str) -> None:
    assert "Traceback" not in out + err, err
    assert "internal error" not in err, err
    assert code == 2, f"exit {code}; stderr: {err!r}; stdout: {out[-500:]!r}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "error:" in lines[0], lines[0]
    assert names in lines[0], f"{names!r} not named in {lines[0]!r}"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("MIPTECH_", "REACT_APP_")):
            monkeypatch.delenv(name)
    return tmp_path


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_exit_2(
    c: Case, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_files(isolated, c.files)
    for name, value in c.env.items():
        monkeypatch.setenv(name, value)
    try:
        code: int | str | None = cli.main(list(c.argv))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert_one_line(code, out, err, c.names)


SUBPROCESS_IDS = [
    "env-ws-url-port-99999",
    "env-connection-timeout-inf",
    "dotenv-not-utf8",
    "probe-url-port-abc",
    "discover-timeout-nan",
    "serve-set-nan",
    "serve-port-70000",
    "run-json-list",
    "samples-duration-text",
    "bench-number-1.2.3",
    "bench-empty",
    "compare-min-change-nan",
    "scenario-think-time-text",
    "baseline-show-not-json",
    "trends-baseline-damaged",
]
BY_ID = {c.id: c for c in CASES}


@pytest.mark.parametrize("case_id", SUBPROCESS_IDS)
def test_bad_input_as_a_real_process(case_id: str, tmp_path: Path) -> None:
    c = BY_ID[case_id]
    make_files(tmp_path, c.files)
    result = subprocess.run(
        [sys.executable, "-m", "harness", *c.argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**harness_env(**c.env), "PYTHONPATH": str(ROOT)},
    )
    assert_one_line(result.returncode, result.stdout, result.stderr, c.names)


# -- Locust ----------------------------------------------------------------------------------

LOCUST_CASES: list[Case] = [
    case("message-length-negative", ["--message-length", "-5"], "--message-length"),
    case("message-length-zero", ["--message-length", "0"], "--message-length"),
    case("chats-per-session-negative", ["--chats-per-session", "-1"], "--chats-per-session"),
    case("think-time-reversed", ["--think-time", "5,1"], "--think-time"),
    case("think-time-nan", ["--think-time", "nan,1"], "--think-time"),
    case("think-time-text", ["--think-time", "a,b"], "--think-time"),
    case("think-time-one", ["--think-time", "1"], "--think-time"),
    case("think-time-negative", ["--think-time=-1,2"], "--think-time"),
    case("session-duration-negative", ["--session-duration", "-1"], "--session-duration"),
    case("session-duration-nan", ["--session-duration", "nan"], "--session-duration"),
    case("heartbeat-zero", ["--heartbeat-interval", "0"], "--heartbeat-interval"),
    case("heartbeat-nan", ["--heartbeat-interval", "nan"], "--heartbeat-interval"),
    case("start-spread-nan", ["--start-spread", "nan"], "--start-spread"),
    case("start-spread-negative", ["--start-spread", "-1"], "--start-spread"),
    case("max-loop-lag-zero", ["--max-loop-lag-ms", "0"], "--max-loop-lag-ms"),
    case("max-loop-lag-nan", ["--max-loop-lag-ms", "nan"], "--max-loop-lag-ms"),
    case("max-loop-lag-negative", ["--max-loop-lag-ms", "-1"], "--max-loop-lag-ms"),
    case("host-port-99999", ["-H", "ws://localhost:99999"], "ws_url"),
    case("host-port-abc", ["-H", "ws://localhost:abc"], "ws_url"),
    case("host-http", ["-H", "http://localhost:8000"], "ws_url"),
    case("platform-profile-unknown", ["--platform-profile", "nosuch"], "--platform-profile"),
    case("scenario-unknown", ["--scenario", "nosuch"], "--scenario"),
    case(
        "scenario-think-time",
        ["--scenario", "s.toml"],
        "think_time_s",
        files=scen('[users]\nthink_time_s = ["a", "b"]\n' + STAGE),
    ),
    case("scenario-not-utf8", ["--scenario", "s.toml"], "s.toml", files=scen(NOT_UTF8)),
    case(
        "scenario-settings-inf",
        ["--scenario", "s.toml"],
        "connection_timeout_ms",
        files=scen("[settings]\nconnection_timeout_ms = inf\n" + STAGE),
    ),
    case(
        "env-timeout-inf",
        [],
        "MIPTECH_CONNECTION_TIMEOUT_MS",
        env={"MIPTECH_CONNECTION_TIMEOUT_MS": "inf"},
    ),
    case(
        "env-attempts-text",
        [],
        "MIPTECH_MAX_RECONNECT_ATTEMPTS",
        env={"MIPTECH_MAX_RECONNECT_ATTEMPTS": "abc"},
    ),
    case("env-ws-url-port", [], "MIPTECH_WS_URL", env={"MIPTECH_WS_URL": "ws://h:99999"}),
    case("dotenv-not-utf8", [], ".env", files={".env": NOT_UTF8}),
    case("env-file-missing", ["--env-file", "nope.env"], "--env-file"),
    case("run-id-bad", ["--run-id", "../x"], "--run-id"),
    case("conversations-missing", ["--conversations", "nope.jsonl"], "nope.jsonl"),
    case(
        "conversations-bad-json",
        ["--conversations", "c.jsonl"],
        "c.jsonl",
        files={"c.jsonl": '{"turns": ["hi"]}\n{"turns": [\n'},
    ),
    case(
        "conversations-too-long",
        ["--conversations", "c.csv", "--env-file", "short.env"],
        "c.csv",
        files={"c.csv": "text\n" + "x" * 50 + "\n", "short.env": "MIPTECH_MAX_MESSAGE_LENGTH=40\n"},
    ),
    case("conversations-suffix", ["--conversations", "c.txt"], "c.txt", files={"c.txt": "hi\n"}),
    case(
        "scenario-conversations-missing",
        ["--scenario", "s.toml"],
        "gone.csv",
        files=scen('[users]\nconversations = "gone.csv"\n' + STAGE),
    ),
    case("tenants-weight-text", ["--tenants", "a:x,b:30"], "tenants"),
    case("tenants-bad-name", ["--tenants", "a b:70"], "tenants"),
    case("tenants-twice", ["--tenants", "a:1,a:2"], "tenants"),
    case("tenants-env-zero", [], "MIPTECH_TENANTS", env={"MIPTECH_TENANTS": "a:0"}),
    case("live-benchmarks-missing", ["--benchmarks", "nope.toml"], "nope.toml"),
    case(
        "live-benchmarks-no-checks",
        ["--benchmarks", "b.toml"],
        "no checks",
        files={"b.toml": "[analysis]\nwarmup_s = 0\n"},
    ),
    case("live-every-negative", ["--live-every=-1"], "--live-every"),
    case("live-every-nan", ["--live-every", "nan"], "--live-every"),
    case("sources-option-typo", ["--source-addresses", "127.0.0.2-"], "source_addresses"),
    case(
        "sources-not-an-address",
        [],
        "MIPTECH_SOURCE_ADDRESSES",
        env={"MIPTECH_SOURCE_ADDRESSES": "127.0.0.2,localhost"},
    ),
    case(
        "sources-range-backwards",
        [],
        "MIPTECH_SOURCE_ADDRESSES",
        env={"MIPTECH_SOURCE_ADDRESSES": "127.0.0.9-127.0.0.2"},
    ),
    case(
        "sources-too-many",
        [],
        "MIPTECH_SOURCE_ADDRESSES",
        env={"MIPTECH_SOURCE_ADDRESSES": "10.0.0.0-10.1.0.0"},
    ),
]
_check_ids_unique(LOCUST_CASES)
LOCUST_LOG = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+\] \S+/INFO/locust\.")


def _run_locust(c: Case, root: Path) -> dict[str, Any]:
    home = root / c.id
    home.mkdir()
    make_files(home, c.files)
    reports = home / "reports"
    (reports / "runs" / "earlier").mkdir(parents=True)  # the last good run stays latest
    (reports / "latest").symlink_to(Path("runs") / "earlier")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "locustfile.py"),
            "--headless",
            "--reports-dir",
            str(reports),
            "-t",
            "2s",
            *c.argv,
        ],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
        env=harness_env(**c.env),
    )
    return {
        "code": result.returncode,
        "stdout": result.stdout,
        "stderr": "\n".join(
            line for line in result.stderr.splitlines() if not LOCUST_LOG.match(line)
        ),
        "runs": sorted(p.name for p in (reports / "runs").iterdir()),
        "latest": os.readlink(reports / "latest") if (reports / "latest").is_symlink() else None,
    }


@pytest.fixture(scope="module")
def locust_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("locust")
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda c: _run_locust(c, root), LOCUST_CASES)
        return {c.id: r for c, r in zip(LOCUST_CASES, results, strict=True)}


@pytest.mark.parametrize("c", LOCUST_CASES, ids=[c.id for c in LOCUST_CASES])
def test_bad_locust_input_is_one_line_exit_2_and_creates_nothing(
    c: Case, locust_results: dict[str, dict[str, Any]]
) -> None:
    r = locust_results[c.id]
    assert_one_line(r["code"], r["stdout"], r["stderr"], c.names)
    assert r["stderr"].startswith("harness: error: ")
    assert r["runs"] == ["earlier"], "a run directory was created"
    assert r["latest"] == str(Path("runs") / "earlier"), "reports/latest moved"


def test_the_table_is_large() -> None:
    assert len(CASES) + len(LOCUST_CASES) >= 160
