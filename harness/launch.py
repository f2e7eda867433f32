"""The command line of a headless load run, for tools that start one (nightly, benchmarks)."""

from __future__ import annotations

import sys
from pathlib import Path

LOCUSTFILE = Path(__file__).resolve().parents[1] / "locustfile.py"


def locust_command(*args: str) -> list[str]:
    """`python -m locust -f locustfile.py --headless ARGS...` with this interpreter."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", *args]
