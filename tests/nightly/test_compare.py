"""The comparison on synthetic trials with known truth, 100 seeded repetitions each."""

import numpy as np
import pytest

from harness.nightly.compare import compare, overall

PHASES = {
    "connect": (1.0, 0.5),
    "platform_init": (6.0, 0.12),
    "ready": (6.2, 0.1),
    "chat_complete": (5.6, 0.05),
}


def trial(
    rng: np.random.Generator, scale: dict[str, float], n: int = 3000
) -> dict[str, dict[str, float]]:
    """One trial: n lifecycles per phase; its p50, p95, p99 in ms."""
    out = {}
    for phase, (mu, sigma) in PHASES.items():
        ms = np.sort(rng.lognormal(mu, sigma, n)) * scale.get(phase, 1.0)
        out[phase] = {f"p{q}": float(ms[int(np.ceil(q / 100 * n)) - 1]) for q in (50, 95, 99)}
    return out


def night(
    rng: np.random.Generator, trials: int = 5, scale: dict[str, float] | None = None
) -> dict[str, dict[str, list[float]]]:
    runs = [trial(rng, scale or {}) for _ in range(trials)]
    return {
        phase: {stat: [r[phase][stat] for r in runs] for stat in ("p50", "p95", "p99")}
        for phase in PHASES
    }


def flagged(changes: list, phase: str | None = None, stat: str | None = None) -> bool:
    return any(
        c.verdict == "regression"
        and (phase is None or c.phase == phase)
        and (stat is None or c.stat == stat)
        for c in changes
    )


def test_a_night_with_no_change_is_almost_never_flagged() -> None:
    false_alarms = sum(
        overall(compare(night(rng := np.random.default_rng(seed)), night(rng))) == "regression"
        for seed in range(100)
    )
    assert false_alarms <= 1


def test_a_15_percent_p95_slowdown_is_flagged() -> None:
    hits = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        changes = compare(night(rng), night(rng, scale={"ready": 1.15}))
        hits += flagged(changes, "ready", "p95")
    assert hits >= 95


def test_a_change_below_the_magnitude_threshold_is_not_flagged() -> None:
    rng = np.random.default_rng(7)
    changes = compare(night(rng), night(rng, scale={"ready": 1.06, "chat_complete": 1.06}))
    ready = next(c for c in changes if c.phase == "chat_complete" and c.stat == "p50")
    assert ready.p_value is not None and ready.p_value < 1e-6  # real and significant ...
    assert not flagged(changes)  # ... but smaller than 10 %


def test_improvements_are_reported_with_intervals() -> None:
    rng = np.random.default_rng(8)
    changes = compare(night(rng), night(rng, scale={"platform_init": 0.7}))
    better = [c for c in changes if c.verdict == "improvement"]
    assert {c.phase for c in better} == {"platform_init"}
    for c in better:
        assert c.low is not None and c.high is not None and c.low <= c.ratio <= c.high  # type: ignore[operator]
        assert c.high < 1


def test_too_few_replicates_are_insufficient_not_guessed() -> None:
    changes = compare({"ready": {"p95": [500.0]}}, {"ready": {"p95": [900.0, 950.0]}})
    assert [c.verdict for c in changes] == ["insufficient"]


@pytest.mark.parametrize("trials", [2, 3])
def test_works_with_few_trials(trials: int) -> None:
    rng = np.random.default_rng(9)
    changes = compare(night(rng, trials), night(rng, trials, scale={"ready": 1.6}))
    assert flagged(changes, "ready", "p50")
