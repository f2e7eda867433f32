"""The reference platform as a child process on a free local port, for runs with no target."""

from __future__ import annotations

import contextlib
import ctypes
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.errors import HarnessError


@dataclass
class EmbeddedPlatform:
    process: subprocess.Popen[str]
    url: str  # the endpoint URL the platform announced

    @property
    def base(self) -> str:
        """ws://host:port, what settings call ws_url."""
        return self.url.split("/", 3)[0] + "//" + self.url.split("/", 3)[2]

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

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
    """`python -m harness serve --port 0 ARGS...`, returned once it listens.

    Its later output is drained (to `log`, if given): a pipe nobody reads fills up and
    blocks the platform mid-run."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        # Its own session: a Ctrl-C meant for the run must not kill the platform under the
        # lifecycles still in flight (the run stops it when it ends) ...
        start_new_session=True,
        # ... and it still ends with the harness, even one killed with SIGKILL.
        preexec_fn=_die_with_parent,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"listening on (\S+)", line)
    if not found:
        rest = process.stdout.read() if process.poll() is not None else ""
        process.kill()
        raise HarnessError(f"the reference platform did not start: {(line + rest).strip()}")
    threading.Thread(target=_drain, args=(process.stdout, log), daemon=True).start()
    return EmbeddedPlatform(process, found.group(1))


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
