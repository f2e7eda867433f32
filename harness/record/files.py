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
from harness.redact import mask_data


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


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically: readers see the old file or the new, never half.
    The text is made from data already masked (harness.redact.mask_data): text itself is
    never searched for secrets, which could mangle numbers and markup."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
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
    plain = json.loads(json.dumps(body, default=str))
    write_text(path, json.dumps(mask_data(plain), indent=2) + "\n")
