"""What a load run's process carries before its first user: pandas and matplotlib are for
reading runs and drawing reports, not for the processes that hold sessions."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
from gevent import monkey; monkey.patch_all()
import sys
import locust
import locustfile
print(sorted(m for m in ("pandas", "matplotlib", "jinja2.nodes") if m in sys.modules))
"""


def test_the_locustfile_does_not_load_pandas_or_matplotlib() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pandas" not in done.stdout and "matplotlib" not in done.stdout, done.stdout
