from pathlib import Path

import pytest

from harness.analysis.benchmarks import load_benchmarks
from harness.errors import ConfigError


def test_the_documents_table() -> None:
    b = load_benchmarks()
    assert [(c.phase, c.stat, c.limit_ms) for c in b.checks] == [
        ("connect", "p95", 200.0),
        ("auth_delay", "p95", 150.0),
        ("platform_init", "p95", 500.0),
        ("ready", "p95", 600.0),
        ("ready", "max", 10_000.0),
    ]
    assert b.phases["platform_init"].documented == (300.0, 500.0)
    assert b.phases["auth_delay"].documented == (100.0, 100.0)
    assert b.budget_for("ready_timeout").rate == 0.01  # type: ignore[union-attr]
    assert b.budget_for("dropped").rate == 0.02  # type: ignore[union-attr]  # the "*" budget


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[phases.ready]\nchecks = ["p97 < 1s"]', "is not a check"),
        ('[phases.ready]\nchecks = ["p95 < 600 minutes"]', "is not a check"),
        ('[phases.ready]\ndocumented = "fast"', "is not a range"),
        ('[errors]\nready_timeout = "1%"', 'write e.g. "rate < 1%"'),
        ("[thresholds]\nx = 1", "unknown table(s) thresholds"),
        ("[analysis]\nconfidence = 1.5", "confidence in [0.5, 1)"),
        ("not toml at all = = ", "not valid TOML"),
    ],
)
def test_malformed_benchmark_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "b.toml"
    path.write_text(text)
    with pytest.raises(
        ConfigError, match=words.replace("(", r"\(").replace("[", r"\[").replace(")", r"\)")
    ):
        load_benchmarks(path)


def test_custom_file_and_units(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text('[phases.chat_complete]\nchecks = ["p99 <= 2s", "p50 < 900000us"]\n')
    b = load_benchmarks(path)
    assert [(c.stat, c.op, c.limit_ms) for c in b.checks] == [
        ("p99", "<=", 2000.0),
        ("p50", "<", 900.0),
    ]


def test_a_table_may_check_the_gaps_of_streamed_replies(tmp_path: Path) -> None:
    table = tmp_path / "gaps.toml"
    table.write_text('[phases.chat_gap]\nchecks = ["p99 < 250ms", "p50 <= 60ms"]\n')
    checks = load_benchmarks(table).checks
    assert [(c.phase, c.stat, c.limit_ms) for c in checks] == [
        ("chat_gap", "p99", 250.0),
        ("chat_gap", "p50", 60.0),
    ]


def test_a_step_check_on_a_phase_without_steps_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "b.toml"
    table.write_text('[phases."connect{step:x}"]\nchecks = ["p95 < 1s"]\n')
    with pytest.raises(ConfigError, match="connect has no steps"):
        load_benchmarks(table)
