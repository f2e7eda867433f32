"""Handshake headers a real platform may need: Authorization, an API key, a cookie.

Given as `--header 'Name: value'` (repeatable), MIPTECH_HEADERS (one header per line, or a
JSON object), or a scenario's `[settings] headers` (a table or a list of lines). Their values
are secrets: every output masks them (harness.redact).
"""

from __future__ import annotations

import json
import re

Headers = tuple[tuple[str, str], ...]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name
HANDSHAKE_OWN = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
        "content-length",
        "transfer-encoding",
    }
)
"""Headers the WebSocket handshake itself sends: configuring one would break it."""


def parse_headers(raw: object) -> Headers:
    """Validated ("Name", "value") pairs; ValueError says what is wrong, in words."""
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValueError("must be a JSON object or 'Name: value' lines") from None
    if isinstance(raw, str):
        raw = [line for line in raw.splitlines() if line.strip()]
    if isinstance(raw, dict):
        items = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list | tuple):
        items = []
        for number, line in enumerate(raw, 1):
            name, sep, value = str(line).partition(":")
            if not sep:  # its text is not quoted: it may be all secret
                raise ValueError(f"header {number} is not 'Name: value' (no ':')")
            items.append((name.strip(), value.strip()))
    else:
        raise ValueError("must be 'Name: value' headers")
    headers: list[tuple[str, str]] = []
    for number, (name, value) in enumerate(items, 1):
        if not _TOKEN.fullmatch(name):  # not quoted: a mistyped header may be all secret
            raise ValueError(f"header {number}: the text before ':' is not an HTTP header name")
        if name.lower() in HANDSHAKE_OWN:
            raise ValueError(f"header {name} is the WebSocket handshake's own")
        if name.lower() in {n.lower() for n, _ in headers}:
            raise ValueError(f"header {name} is given twice")
        if not isinstance(value, str) or not value.isprintable():
            raise ValueError(f"header {name}: its value must be one line of text")
        headers.append((name, value))
    return tuple(headers)


SECRET_HEADER = re.compile(
    r"^(proxy-)?authorization$|^cookie$|key|token|secret|auth|session|passw|credential|signature",
    re.IGNORECASE,
)
"""Headers whose values are credentials; the others (a version, a subprotocol) are not."""


def header_secrets(headers: Headers) -> list[str]:
    """What of the credential headers' values is secret: all of each, and the parts a
    platform might echo alone: an Authorization's credentials after its scheme, each
    cookie's value."""
    secrets = []
    for name, value in headers:
        if not SECRET_HEADER.search(name):
            continue
        secrets.append(value)
        if name.lower() in ("authorization", "proxy-authorization") and " " in value.strip():
            secrets.append(value.strip().split(None, 1)[1])
        if name.lower() == "cookie":
            secrets += [c.partition("=")[2].strip() for c in value.split(";")]
    return secrets
