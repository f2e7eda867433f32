"""The last resort: an exception of ours that nothing else handled becomes one line on the
console and a traceback in a file, with its own exit code (1 means a performance FAIL)."""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path

from harness.redact import mask_text

EXIT_CRASH = 3


def report_crash(where: str, exc: BaseException) -> int:
    """Write the traceback to a file, say so in one line on stderr; EXIT_CRASH."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    text = mask_text("".join(traceback.format_exception(exc)))
    try:
        fd, name = tempfile.mkstemp(prefix=f"harness-crash-{stamp}-", suffix=".txt")
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
        saved = f"traceback in {Path(name)}"
    except OSError as write_error:  # nowhere to write it: the console gets the traceback
        sys.stderr.write(text)
        saved = f"traceback above (could not write a file: {write_error.strerror})"
    first = str(exc).splitlines()[0] if str(exc) else ""
    sys.stderr.write(
        f"{where}: internal error: {type(exc).__name__}{': ' + first if first else ''} "
        f"(a bug of the harness, please report it; {saved})\n"
    )
    sys.stderr.flush()
    return EXIT_CRASH
