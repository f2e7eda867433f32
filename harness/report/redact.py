"""No secret reaches any output: URL passwords, secret query values, secret environment values."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|AUTH|CREDENTIAL|PRIVATE", re.IGNORECASE)
_USERINFO = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]*)@", re.I
)
_QUERY = re.compile(
    r"(?P<key>[?&](?:[^=&#\s]*(?:token|secret|key|password|auth|signature)[^=&#\s]*)=)[^&#\s\"'<]*",
    re.I,
)
MASK = "****"


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names mark them secret (longest first)."""
    environ = os.environ if environ is None else environ
    values = {v for k, v in environ.items() if SECRET_NAME.search(k) and len(v) >= 4}
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: list[str] | None = None) -> str:
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m['key']}{MASK}", text)
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, MASK)
    return text
