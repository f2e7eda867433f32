"""The reference platform as a child process on a free local port, for runs with no target."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.errors import HarnessError

ADMIN_TOKEN_HEADER = "X-Harness-Token"  # the reference platform's admin requests carry it


def admin_post(base: str, action: str, token: str, timeout: float = 5) -> bytes:
    """POST /_harness/ACTION (drop, stats) to the reference platform at `base` (ws:// or
    http://host:port) with its admin token; the answer's body. One HarnessError if it fails."""
    http_base = base.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    url = f"{http_base}/_harness/{action}"
    request = urllib.request.Request(
        url, data=b"", method="POST", headers={ADMIN_TOKEN_HEADER: token}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        detail = b""
        with contextlib.suppress(OSError, http.client.HTTPException):
            detail = exc.read()
        said = detail.decode(errors="replace").strip() or exc.reason
        raise HarnessError(f"POST {url}: HTTP {exc.code} {said}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise HarnessError(f"POST {url}: {exc}") from None


@dataclass
class EmbeddedPlatform:
    process: subprocess.Popen[str]
    url: str  # the endpoint URL the platform announced
    admin_token: str = ""  # the token it announced, for its admin endpoints

    @property
    def base(self) -> str:
        """ws://host:port, what settings call ws_url."""
        return self.url.split("/", 3)[0] + "//" + self.url.split("/", 3)[2]

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def drop_all(self) -> None:
        """Have the platform close every open session with 1001 (a restart, a storm)."""
        admin_post(self.base, "drop", self.admin_token)

    def stats(self) -> dict[str, Any]:
        """The platform's counters (with --workers, those of the worker that answered)."""
        body = admin_post(self.base, "stats", self.admin_token)
        try:
            return dict(json.loads(body))
        except ValueError:
            raise HarnessError(f"the platform's stats are not JSON: {body[:200]!r}") from None

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_platform(
    *args: str, env: dict[str, str] | None = None, log: Path | None = None
) -> EmbeddedPlatform:
    """`python -m harness serve --port 0 ARGS...`, returned once it listens, with the admin
    token it announced: a random one (an MIPTECH_ADMIN_TOKEN in the environment is meant for
    an external target and is not passed on) unless ARGS give `--admin-token`.

    Its later output is drained (to `log`, if given): a pipe nobody reads fills up and
    blocks the platform mid-run."""
    environ = os.environ if env is None else env
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in environ.items() if k != "MIPTECH_ADMIN_TOKEN"},
        # Its own session: a Ctrl-C meant for the run must not kill the platform under the
        # lifecycles still in flight (the run stops it when it ends) ...
        start_new_session=True,
        # ... and it still ends with the harness, even one killed with SIGKILL.
        preexec_fn=_die_with_parent,
    )
    assert process.stdout is not None
    said = ""
    for line in process.stdout:  # a warning (e.g. about the address) may come first
        said += line
        found = re.search(r"listening on (\S+)", line)
        if found:
            break
    else:
        process.kill()
        raise HarnessError(f"the reference platform did not start: {said.strip()}")
    token = re.search(r"admin token (\S+);", line)
    threading.Thread(target=_drain, args=(process.stdout, log), daemon=True).start()
    return EmbeddedPlatform(process, found.group(1), token.group(1) if token else "")


def _die_with_parent() -> None:
    """Linux: SIGTERM this (child) process when its parent dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the run's end stops it
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _drain(stream: IO[str], log: Path | None) -> None:
    sink = log.open("a") if log else None
    try:
        for line in stream:
            if sink:
                sink.write(line)
                sink.flush()
    finally:
        if sink:
            sink.close()


@contextmanager
def embedded_platform(*args: str) -> Iterator[EmbeddedPlatform]:
    platform = start_platform(*args)
    try:
        yield platform
    finally:
        platform.stop()
