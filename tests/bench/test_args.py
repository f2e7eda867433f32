"""A typo on a benchmark's command line is one usage error and exit 2, before anything runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["bench.memory", "--sessions", "0"], "--sessions: '0' must be above 0"),
        (["bench.memory", "--rate", "nan"], "--rate: 'nan' must be above 0"),
        (["bench.scale", "--spawn-rate", "0"], "--spawn-rate: '0' must be above 0"),
        (["bench.scale", "--sessions", "5k"], "--sessions: '5k' is not a number"),
        (["bench.cost", "--loads", "closed31"], "no load closed31"),
        (["bench.cost", "--runs", "-1"], "--runs: '-1' must be above 0"),
    ],
)
def test_a_typo_is_one_line_and_exit_2(args: list[str], said: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr, done.stderr
