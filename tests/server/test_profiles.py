import random

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.server.profiles import Fate, build_profile


def draws(name: str, n: int = 20_000, **knobs: str) -> tuple[list[Fate], np.ndarray]:
    profile = build_profile(name, knobs)
    rng = random.Random(1)
    pairs = [profile.draw_init(rng) for _ in range(n)]
    return [f for f, _ in pairs], np.array([s for f, s in pairs if f is Fate.READY]) * 1000


def test_documented_profile_init_p50_about_400_p95_at_most_500() -> None:
    fates, ms = draws("documented")
    assert set(fates) == {Fate.READY}
    assert 390 <= np.percentile(ms, 50) <= 410
    assert np.percentile(ms, 95) <= 500 and ms.min() >= 300


def test_degraded_profile_is_slow_and_faulty() -> None:
    fates, ms = draws("degraded")
    assert np.percentile(ms, 50) >= 650
    never = fates.count(Fate.NEVER_READY) / len(fates)
    errors = fates.count(Fate.SERVER_ERROR) / len(fates)
    assert 0.02 < never < 0.04 and 0.02 < errors < 0.04


def test_fast_profile_has_no_delays_and_knobs_override() -> None:
    _, ms = draws("fast", 100)
    assert ms.max() == 0
    _, ms = draws("fast", 100, init_ms="25")
    assert set(ms) == {25.0}


@pytest.mark.parametrize(
    ("name", "knobs", "words"),
    [
        ("nope", {}, "unknown profile"),
        ("fast", {"init": "1"}, "knob 'init' is unknown"),
        ("fast", {"init_ms": "soon"}, "not a float"),
        ("fast", {"ready_timeout_rate": "1.5"}, ">= 0 and <= 1"),
        ("fast", {"chat_chunks": "0"}, "at least 1"),
        ("fast", {"send_done": "perhaps"}, "not true/false"),
    ],
)
def test_bad_profiles_and_knobs(name: str, knobs: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        build_profile(name, knobs)


def test_chunk_gaps_are_fixed_or_log_normal_around_their_median() -> None:
    import statistics

    fixed = build_profile("fast", {"chat_chunk_gap_ms": "50"})
    assert {fixed.draw_gap(random.Random(1)) for _ in range(20)} == {0.05}
    spread = build_profile("fast", {"chat_chunk_gap_ms": "40", "chat_chunk_gap_sigma": "0.5"})
    rng = random.Random(7)
    gaps = [spread.draw_gap(rng) for _ in range(4000)]
    assert abs(statistics.median(gaps) - 0.040) < 0.002  # the median is the knob
    assert max(gaps) <= 20 * 0.040 and min(gaps) > 0
    assert statistics.quantiles(gaps, n=100)[98] > 2 * 0.040  # a tail, as token streams have
