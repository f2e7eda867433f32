"""The reference platform's own record of each session, to check the harness's figures against.

One JSON line per event: {"session_id", "event", "t" (epoch s, from the shared monotonic
clock), "message_id"?, "stamp"?}. Events: open, auth, ready, chat, reply_done, close. An
auth's "stamp" says where its time comes from: "kernel" (when its bytes reached the
platform's machine) or "loop" (when the platform's event loop read them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from harness.protocol.clock import Clock


class GroundTruthLog:
    def __init__(self, path: Path | None, clock: Clock) -> None:
        self.clock = clock
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", buffering=1 << 16)

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def record(
        self,
        session_id: str | None,
        event: str,
        at: float,
        message_id: str | None = None,
        stamp: str | None = None,
    ) -> None:
        if self._file is None:
            return
        line: dict[str, object] = {
            "session_id": session_id,
            "event": event,
            "t": round(self.clock.to_epoch(at), 6),
        }
        if message_id:
            line["message_id"] = message_id
        if stamp:
            line["stamp"] = stamp
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_ground_truth(path: Path) -> list[dict[str, object]]:
    """Every event of a ground-truth file (or of every `*.jsonl` in a directory)."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line]
