"""Nightly regression: trials, baseline, statistically sound comparison, history and trends."""
