"""The one RunContext of this process, set up by the plugin's `init` hook."""

from __future__ import annotations

from harness.load.lifecycle import RunContext

_context: RunContext | None = None


def context() -> RunContext:
    if _context is None:
        raise RuntimeError("the harness plugin was not initialised (import it in the locustfile)")
    return _context


def set_context(ctx: RunContext | None) -> None:
    global _context
    _context = ctx
