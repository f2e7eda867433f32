"""Analysis of a run directory: pure statistics, checks against the benchmark table, verdicts."""
