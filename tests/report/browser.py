"""Open a page in headless Chromium and ask it, over the DevTools protocol, what it saw."""

from __future__ import annotations

import json
import shutil
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


def inspect_page(page: Path, expression: str) -> dict[str, Any]:
    """Load `page`; return console errors, exceptions and the value of `expression`."""
    assert CHROMIUM, "chromium is not installed (make test installs it)"
    port = free_port()
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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
            return _drive(ws, page, expression)
        finally:
            proc.kill()
            proc.wait()


def _drive(ws: websocket.WebSocket, page: Path, expression: str) -> dict[str, Any]:
    ids = iter(range(1, 1000))

    def call(method: str, **params: Any) -> int:
        n = next(ids)
        ws.send(json.dumps({"id": n, "method": method, "params": params}))
        return n

    for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
        call(domain)
    call("Page.navigate", url=page.resolve().as_uri())
    errors: list[str] = []
    loaded = False
    result_id = None
    value = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = json.loads(ws.recv())
        method = message.get("method")
        if method == "Runtime.exceptionThrown":
            errors.append(str(message["params"]["exceptionDetails"]))
        elif method == "Runtime.consoleAPICalled" and message["params"]["type"] == "error":
            errors.append(str(message["params"]["args"]))
        elif method == "Log.entryAdded" and message["params"]["entry"]["level"] == "error":
            errors.append(message["params"]["entry"]["text"])
        elif method == "Page.loadEventFired" and not loaded:
            loaded = True
            result_id = call("Runtime.evaluate", expression=expression, returnByValue=True)
        elif result_id is not None and message.get("id") == result_id:
            value = message["result"]["result"].get("value")
            break
    return {"loaded": loaded, "errors": errors, "value": value}
