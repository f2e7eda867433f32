"""No secret reaches any output. What is secret is decided by meaning, not by searching text:

- in a URL: the password of its user part, and every query value but the document's own
  `tenant_id` and `session_id` (a platform that takes a token in the query);
- the values of handshake headers (`--header`, MIPTECH_HEADERS): Authorization, API keys,
  cookies; the settings remember them here when they are read (`remember`);
- an environment variable named like a secret (TOKEN, SECRET, PASSWORD, API_KEY, AUTH, ...)
  that is not one of the harness's own settings (whose meaning is known: none is secret
  but the headers) and whose value is not a number or a boolean.

Files are masked as data (`mask_data`: string values only; never keys, numbers or booleans),
so masking can never make run.json something that is not JSON. Console lines go through
`mask_text`. A remembered secret is masked wherever it occurs; an environment value only as
a whole value, or inside a longer text when it is at least 8 characters (shorter ones are
common words and numbers: `miptech`, `1000`, `true`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MASK = "****"
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|API_?KEY|AUTH|CREDENTIAL|PRIVATE|COOKIE|SESSION_?KEY", re.IGNORECASE
)
PUBLIC_QUERY_KEYS = frozenset({"tenant_id", "session_id"})
OPAQUE_KEYS = frozenset({"hdr"})
"""JSON values that are encoded data, not text: never masked (a secret's characters can
occur in base64 by chance)."""

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)
_NUMBER_OR_BOOL = re.compile(
    r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|true|false|yes|no|on|off|none|null|nan|inf",
    re.IGNORECASE,
)
MIN_SUBSTRING = 4  # a remembered secret this long is masked inside any text
MIN_ENV_SUBSTRING = 8  # an environment secret this long is masked inside any text

_remembered: set[str] = set()
_own_env_names: frozenset[str] = frozenset()


def remember(*values: str) -> None:
    """Mark values as secret for every output of this process (a header's value)."""
    _remembered.update(v for v in values if v)


def own_settings(env_names: Iterable[str]) -> None:
    """The environment names of the harness's own settings: their meaning is known."""
    global _own_env_names
    _own_env_names = frozenset(env_names)


def env_secrets(environ: Mapping[str, str] | None = None) -> set[str]:
    environ = os.environ if environ is None else environ
    return {
        v
        for k, v in environ.items()
        if SECRET_NAME.search(k)
        and k not in _own_env_names
        and v.strip()
        and not _NUMBER_OR_BOOL.fullmatch(v.strip())
    }


def mask_url(url: str) -> str:
    """A URL with its password and its query values (but tenant_id, session_id) masked."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a bad port raises: the URL is then masked as a whole)
    except ValueError:
        return _mask_userinfo(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    query = parts.query
    if query:
        query = "&".join(
            f"{k}={v if k in PUBLIC_QUERY_KEYS else MASK}"
            for k, v in parse_qsl(query, keep_blank_values=True)
        )
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    head = f"{parts.scheme}://{netloc}{parts.path}"
    return f"{head}?{query}{fragment}" if query else head + fragment


def _mask_userinfo(url: str) -> str:
    return re.sub(r"(://[^/@:\s]*):[^/@\s]*@", rf"\1:{MASK}@", url)


class Redactor:
    """The secrets of this process at one moment, applied to text or to data."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.whole = set(_remembered) | env_secrets(environ)
        self.inside = sorted(
            {v for v in _remembered if len(v) >= MIN_SUBSTRING}
            | {v for v in self.whole - _remembered if len(v) >= MIN_ENV_SUBSTRING},
            key=len,
            reverse=True,
        )

    def text(self, text: str) -> str:
        if text in self.whole:
            return MASK
        if "://" in text:
            text = _URL.sub(lambda m: mask_url(m.group(0)), text)
        for value in self.inside:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: v if k in OPAQUE_KEYS else self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def mask_text(text: str) -> str:
    return Redactor().text(text)


def mask_data(value: Any) -> Any:
    return Redactor().data(value)


class MaskedStream:
    """A console stream whose every write is masked (`mask_text`): prints, log lines and
    Locust's own lines alike. Everything else is the wrapped stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask_text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def mask_console() -> None:
    """Mask sys.stdout and sys.stderr of this process from now on (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, MaskedStream):
            setattr(sys, name, MaskedStream(stream))
