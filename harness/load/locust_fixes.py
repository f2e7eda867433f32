"""Two fixes to Locust 2.47's own bookkeeping, which otherwise stalls a worker during a ramp.

Found with the harness's loop-lag monitor and cProfile, holding 4,000-20,000 sessions: on
every spawn message (once a second while ramping) a worker

1. filters the master's options with `k not in argument_parser.default_args_dict()`, which
   rebuilds Locust's whole argument parser once per option (~70 times): a 35-110 ms stall
   each second, and parser reference cycles left for the garbage collector;
2. counts its users per class five or six times by walking every user greenlet (about
   25 ms at 10,000 users per worker).

The defaults never change in a process, so the first answer is kept; with one user class
(how every harness run is set up) the count is the size of the user group. Both are checked
by tests/load/test_locust_fixes.py, which fail if a Locust upgrade changes what they touch.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from locust import argument_parser
from locust.runners import Runner

WALK_USER_GREENLETS: property = Runner.__dict__["user_classes_count"]  # Locust's own


def _user_classes_count(runner: Any) -> dict[str, int]:
    """Users per class: with one class, all of them (O(1) instead of a walk)."""
    if len(runner.user_classes) == 1:
        return {runner.user_classes[0].__name__: len(runner.user_greenlets)}
    return dict(WALK_USER_GREENLETS.fget(runner))  # type: ignore[misc]


def install() -> None:
    if not hasattr(argument_parser.default_args_dict, "cache_info"):
        argument_parser.default_args_dict = cache(argument_parser.default_args_dict)
    if Runner.__dict__["user_classes_count"] is WALK_USER_GREENLETS:
        Runner.user_classes_count = property(_user_classes_count)  # type: ignore[assignment]
