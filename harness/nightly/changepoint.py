"""Change points in a history of nightly figures, by binary segmentation with Welch t-tests.

The idea of E-divisive-with-t-test as used in performance CI (hunter), made simple: find the
split of a series whose two sides differ most (largest |t| of a Welch test on logarithms);
keep it if the difference is both significant (Bonferroni over the candidate splits) and
larger than `min_change`; then look again on each side. Every segment keeps at least
`min_size` nights, so a single odd night is not a change point.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as st


def change_points(
    values: list[float], min_size: int = 3, alpha: float = 0.01, min_change: float = 0.10
) -> list[int]:
    """Indices i where a new level starts (values[i] is the first night after the change)."""
    logs = np.log(np.array([v for v in values], dtype=float))
    found: list[int] = []
    _split(logs, 0, len(logs), min_size, alpha, min_change, found)
    return sorted(found)


def _split(
    x: np.ndarray,
    start: int,
    end: int,
    min_size: int,
    alpha: float,
    min_change: float,
    found: list[int],
) -> None:
    candidates = range(start + min_size, end - min_size + 1)
    best, best_t, best_p = None, 0.0, 1.0
    for k in candidates:
        left, right = x[start:k], x[k:end]
        if left.var() == 0 and right.var() == 0:
            t, p = (math.inf, 0.0) if left.mean() != right.mean() else (0.0, 1.0)
        else:
            test = st.ttest_ind(left, right, equal_var=False)
            t, p = abs(float(test.statistic)), float(test.pvalue)
        if t > best_t:
            best, best_t, best_p = k, t, p
    if best is None:
        return
    change = math.exp(abs(x[best:end].mean() - x[start:best].mean())) - 1
    if best_p < alpha / max(len(candidates), 1) and change > min_change:
        found.append(best)
        _split(x, start, best, min_size, alpha, min_change, found)
        _split(x, best, end, min_size, alpha, min_change, found)
