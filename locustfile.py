"""MIPTech WebSocket load runs: `locust -f locustfile.py [--host ws://...] [--scenario NAME]`.

Thin on purpose: the user classes and the harness's hooks live in harness/load/.
"""

from harness.load import plugin  # noqa: F401  (registers the hooks)
from harness.load.users import ArrivalUser, HeldSessionUser, LifecycleUser

__all__ = ["ArrivalUser", "HeldSessionUser", "LifecycleUser"]
