"""The plugin's own process-level settings."""

from __future__ import annotations


def test_workers_build_locusts_default_options_once() -> None:
    """Locust's spawn handler asks for its default options once per option on every spawn
    message; each call used to rebuild the whole argument parser (a 35-110 ms stall)."""
    from locust import argument_parser

    import harness.load.plugin  # noqa: F401  (installs the cache)

    first = argument_parser.default_args_dict()
    assert argument_parser.default_args_dict() is first
    assert "spawn_rate" in first and "scenario" not in first  # Locust's own, not ours
