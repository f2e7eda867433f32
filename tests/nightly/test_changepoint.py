import numpy as np

from harness.nightly.changepoint import change_points


def test_finds_a_step_and_ignores_noise() -> None:
    rng = np.random.default_rng(1)
    flat = list(500 * rng.lognormal(0, 0.02, 20))
    step = flat[:12] + list(600 * rng.lognormal(0, 0.02, 8))
    assert change_points(flat) == []
    assert change_points(step) == [12]


def test_one_odd_night_is_not_a_change_point() -> None:
    values = [500.0, 502, 498, 501, 499, 900, 500, 503, 497, 500]
    assert change_points(values) == []


def test_small_real_shift_below_the_magnitude_is_not_called() -> None:
    rng = np.random.default_rng(2)
    values = list(500 * rng.lognormal(0, 0.005, 10)) + list(525 * rng.lognormal(0, 0.005, 10))
    assert change_points(values) == []  # a clean 5 % shift: real, but under 10 %
