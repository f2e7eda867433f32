"""A small valid run directory's contents, for tests that spoil it (bad inputs, properties)."""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

T0 = 1_790_000_000.0  # its samples' first start, epoch seconds


def hdr(rows: int) -> str:
    """An encoded HdrHistogram of `rows` values from 100 ms in 1 ms steps."""
    h = HdrHistogram(1, 3_600_000_000, 3)
    for v in range(100_000, 100_000 + rows * 1000, 1000):
        h.record_value(v)
    return h.encode().decode()


def run_body(rows: int = 20, **changes: Any) -> dict[str, Any]:
    """run.json of a complete local run of `rows` lifecycles; `changes` replace keys."""
    body: dict[str, Any] = {
        "schema_version": 2,
        "run_id": "run",
        "status": "complete",
        "started": "2026-09-21T12:53:20+00:00",
        "ended": "2026-09-21T12:53:30+00:00",
        "planned_s": 10.0,
        "actual_s": 10.0,
        "scenario": "smoke",
        "target": "ws://127.0.0.1:1",
        "samples": {"local": {"file": "samples/local.csv", "rows": rows, "closed": True}},
        "workers_lost": [],
        "accounting": {
            "total": {
                "started": rows,
                "completed": rows,
                "ready": rows,
                "failed": {},
                "in_flight": 0,
            },
            "workers": {},
        },
        "health": {
            "valid": True,
            "reasons": [],
            "processes": {"local": {"cpu_timeline": [[T0, 10.0]], "users_timeline": [[T0, 2]]}},
        },
    }
    body.update(changes)
    return body
