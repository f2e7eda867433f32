"""Open a page in headless Chromium and ask it, over the DevTools protocol, what it saw."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

from tests.conftest import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def inspect_page(page: Path | str, expression: str, wait_s: float = 0.0) -> dict[str, Any]:
    """Load `page` (a file, or a URL); return console errors, exceptions and the value of
    `expression`: once truthy, or after `wait_s` seconds of asking (a page that fetches its
    data after it loads)."""
    assert CHROMIUM, "chromium is not installed (make test installs it)"
    port = free_port()
    # Chromium's helper processes may still write to the profile as it is removed
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json") as r:
                        targets = [t for t in json.load(r) if t["type"] == "page"]
                    if targets:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=30)
            return _drive(ws, page, expression, wait_s)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the browser and its helpers
            proc.wait()


def _drive(
    ws: websocket.WebSocket, page: Path | str, expression: str, wait_s: float
) -> dict[str, Any]:
    """Navigate, wait until document.readyState is complete (polled: no event to miss), then
    evaluate `expression`; console errors and exceptions are collected all along."""
    ids = iter(range(1, 10_000))
    errors: list[str] = []

    def call(method: str, **params: Any) -> Any:
        n = next(ids)
        ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            message = json.loads(ws.recv())
            if message.get("id") == n:
                return message.get("result", {})
            _collect(message, errors)

    def evaluate(js: str) -> Any:
        return call("Runtime.evaluate", expression=js, returnByValue=True)["result"].get("value")

    for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
        call(domain)
    call("Page.navigate", url=page if isinstance(page, str) else page.resolve().as_uri())
    loaded = False
    deadline = time.monotonic() + 30
    while not loaded and time.monotonic() < deadline:
        loaded = evaluate("document.readyState") == "complete"
        if not loaded:
            time.sleep(0.1)
    value = evaluate(expression) if loaded else None
    until = time.monotonic() + wait_s
    while loaded and not value and time.monotonic() < until:
        time.sleep(0.25)
        value = evaluate(expression)
    return {"loaded": loaded, "errors": errors, "value": value}


def _collect(message: dict[str, Any], errors: list[str]) -> None:
    method = message.get("method")
    params = message.get("params", {})
    if method == "Runtime.exceptionThrown":
        errors.append(str(params["exceptionDetails"]))
    elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
        errors.append(str(params["args"]))
    elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
        errors.append(params["entry"]["text"])
