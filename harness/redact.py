"""No secret reaches any output. What is secret is decided by meaning, not by searching text:

- in a URL: its user part's password (or the user part itself when it has no password), and
  every query value but the document's own `tenant_id` and `session_id` (a platform that
  takes a token in the query); masked wherever a URL appears, however malformed;
- the values of credential headers (`Authorization`, `Cookie`, names with key, token, secret,
  auth, session, password...): the whole value, the credentials after an Authorization's
  scheme, each cookie's value. run.json keeps only the names of all configured headers;
- an environment variable named like a secret (TOKEN, SECRET, PASSWORD, API_KEY, ...) that
  is not one of the harness's own settings (their meaning is known) and does not name an
  address, a port, a path, a switch or a duration (`AUTH_HOST`, `SSO_AUTH_ENABLED`).

The settings `remember` the values of the first two when they are read. A secret value is
masked where it is a whole value; inside a longer text only when it is at least 8 characters
and not a number (shorter ones are everyday words and numbers: `miptech`, `2026`, `chat`);
values under 4 characters and numbers are not secrets at all. Files are masked as data
(`mask_data`: string values only; never keys, numbers or booleans), so masking can never make
run.json something that is not JSON. Console lines go through `mask_text`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.protocol.messages import QUERY_KEYS

MASK = "****"
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|CREDENTIAL|PRIVATE|COOKIE|SESSION_?KEY"
    r"|SIGNATURE|AUTHORIZATION|(^|_)AUTH$",
    re.IGNORECASE,
)
NOT_SECRET_NAME = re.compile(
    r"_(HOST|HOSTNAME|PORT|ADDR|ADDRESS|PROTO|URL|URI|ENDPOINT|PATH|FILE|DIR|ENABLED|ENABLE"
    r"|DISABLED|TIMEOUT|TTL|DELAY|RETRIES|INTERVAL|MS|S|LENGTH|SIZE|COUNT|TYPE|NAME)$"
    r"|_PORT_\d+",
    re.IGNORECASE,
)
OPAQUE_KEYS = frozenset({"hdr"})
"""JSON values that are encoded data, not text: never masked (a secret's characters can
occur in base64 by chance)."""

MIN_SECRET = 4  # shorter values are not secrets
MIN_INSIDE = 8  # a secret this long is masked inside any text too
_NUMBER_OR_BOOL = re.compile(
    r"[-+]?(\d[\d_.,:]*|\.\d+)([eE][-+]?\d+)?|true|false|yes|no|on|off|none|null|nan|inf",
    re.IGNORECASE,
)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)
_USERINFO = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<info>[^\s@?#]*)@", re.IGNORECASE)

_remembered: set[str] = set()
_own_env_names: frozenset[str] = frozenset()
_console: Redactor | None = None  # the console's, rebuilt when what is secret changes


def is_secret_value(value: str) -> bool:
    value = value.strip()
    return len(value) >= MIN_SECRET and not _NUMBER_OR_BOOL.fullmatch(value)


def remember(*values: str) -> None:
    """Mark values as secret for every output of this process (a credential's value)."""
    global _console
    _remembered.update(v for v in values if is_secret_value(v))
    _console = None


def remember_url(url: str) -> None:
    """A URL's credentials: its password (or user part) and its query values."""
    head, _, query, _, _ = _split_url(url)
    info = _USERINFO.match(head)
    if info:
        user, colon, password = info["info"].partition(":")
        remember(password if colon else user)
    for item in query.split("&"):
        key, equals, value = item.partition("=")
        if key not in QUERY_KEYS:
            remember(value if equals else key)


def _split_url(url: str) -> tuple[str, str, str, str, str]:
    """head, '?', query, '#', fragment: by hand, so a malformed URL splits too."""
    rest, hash_sign, fragment = url.partition("#")
    head, question, query = rest.partition("?")
    return head, question, query, hash_sign, fragment


def own_settings(env_names: Iterable[str]) -> None:
    """The environment names of the harness's own settings: their meaning is known."""
    global _own_env_names, _console
    _own_env_names = frozenset(env_names)
    _console = None


def env_secrets(environ: Mapping[str, str] | None = None) -> set[str]:
    environ = os.environ if environ is None else environ
    return {
        v
        for k, v in environ.items()
        if SECRET_NAME.search(k)
        and not NOT_SECRET_NAME.search(k)
        and k not in _own_env_names
        and is_secret_value(v)
    }


def mask_url(url: str) -> str:
    """A URL with its password (or user part) and its query values (but tenant_id,
    session_id) masked; parsed by hand, so a malformed URL is masked as well."""
    head, question, query, hash_sign, fragment = _split_url(url)
    info = _USERINFO.match(head)
    if info:
        user, colon, _ = info["info"].partition(":")
        shown = f"{user}:{MASK}" if colon else MASK
        head = f"{info['scheme']}{shown}@{head[info.end() :]}"
    if query:
        query = "&".join(_mask_query_item(item) for item in query.split("&"))
    return f"{head}{question}{query}{hash_sign}{fragment}"


def _mask_query_item(item: str) -> str:
    key, equals, _ = item.partition("=")
    if not equals:
        return MASK if item else item
    return item if key in QUERY_KEYS else f"{key}={MASK}"


class Redactor:
    """The secrets of this process at one moment, applied to text or to data."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.whole = frozenset(_remembered | env_secrets(environ))
        self.inside = sorted((v for v in self.whole if len(v) >= MIN_INSIDE), key=len, reverse=True)

    def text(self, text: str) -> str:
        if text in self.whole:
            return MASK
        if "://" in text:
            text = _URL.sub(_masked_url_match, text)
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


def _masked_url_match(match: re.Match[str]) -> str:
    url = match.group(0)
    core = url.rstrip(").,;:]}")
    return mask_url(core) + url[len(core) :]


def mask_text(text: str) -> str:
    return Redactor().text(text)


def mask_data(value: Any) -> Any:
    return Redactor().data(value)


def mask_file(path: Path) -> None:
    """Mask a file another tool wrote (Locust's --html report), as text; if it is there."""
    try:
        text = path.read_text(encoding="utf-8")
        masked = mask_text(text)
        if masked != text:
            path.write_text(masked, encoding="utf-8")
    except (OSError, UnicodeError):
        pass


class MaskedStream:
    """A console stream whose every write is masked: prints, log lines and Locust's own
    lines alike. Everything else is the wrapped stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        global _console
        if _console is None:
            _console = Redactor()
        self._stream.write(_console.text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def mask_console() -> None:
    """Mask sys.stdout and sys.stderr of this process from now on (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, MaskedStream):
            setattr(sys, name, MaskedStream(stream))
