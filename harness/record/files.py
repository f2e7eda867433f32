"""Writing run-record files: atomically, with secrets masked, and one clear error when the
disk is full or the directory cannot be written."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


class RecordWriteError(HarnessError):
    """A run-record file could not be written (full disk, read-only or missing directory)."""


def describe_os_error(path: Path, exc: OSError) -> str:
    why = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.ENOENT: "no such directory",
        errno.ENOTDIR: "a path component is not a directory",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return f"cannot write {path}: {why}"


OPAQUE_KEYS = frozenset({"hdr"})
"""JSON values that are encoded data, not text: never masked (a secret's characters can
occur in base64 by chance)."""


def write_text(path: Path, text: str, *, mask: bool = True) -> None:
    """Replace `path` with `text` atomically: readers see the old file or the new, never half.
    Secrets are masked first (harness.report.redact), unless the caller masked the values."""
    from harness.report.redact import redact

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(redact(text) if mask else text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise RecordWriteError(describe_os_error(path, exc)) from None


def write_json(path: Path, body: dict[str, Any]) -> None:
    """As JSON, atomically, with secrets masked in its string values only: masking the text
    would turn a number or a boolean that equals a secret into `****`, and the file into
    something that is not JSON."""
    from harness.report.redact import secret_values

    plain = json.loads(json.dumps(body, default=str))
    masked = _masked(plain, secret_values())
    write_text(path, json.dumps(masked, indent=2) + "\n", mask=False)


def _masked(value: Any, secrets: list[str]) -> Any:
    from harness.report.redact import redact

    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: v if k in OPAQUE_KEYS else _masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, secrets) for v in value]
    return value
