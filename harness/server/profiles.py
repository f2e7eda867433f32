"""Timing profiles and fault knobs of the reference platform.

A profile says how long things take and which faults happen; the rule book
(`harness.protocol.platform`) says what is answered. Every field is a knob that
`serve --set name=value` and scenarios can override.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from enum import Enum
from typing import Any

from harness.checks import range_problem
from harness.errors import ConfigError
from harness.protocol.platform import PlatformRules


class Fate(Enum):
    """What the platform does after accepting a session's auth."""

    READY = "ready"
    NEVER_READY = "never_ready"  # the client sees ready_timeout
    SERVER_ERROR = "server_error"  # closed with 1011 instead of ready


@dataclass(frozen=True)
class Profile:
    name: str
    init_ms: float = 0.0  # platform init (auth received -> connection_ready): mean
    init_sd_ms: float = 0.0  # ... its standard deviation (normal, clipped below)
    init_min_ms: float = 0.0
    init_max_ms: float = 60_000.0
    ready_timeout_rate: float = 0.0  # fraction of sessions never sent connection_ready
    server_error_rate: float = 0.0  # fraction closed with 1011 after auth
    chat_first_ms: float = 0.0  # chat received -> first assistant chunk
    chat_chunks: int = 3
    chat_chunk_gap_ms: float = 0.0  # between a reply's chunks: the median
    chat_chunk_gap_sigma: float = 0.0  # ... spread (log-normal sigma; 0: every gap the same)
    send_established: bool = True
    send_done: bool = True
    # The rule book's switches (harness.protocol.platform.PlatformRules): False breaks a rule.
    check_tenant: bool = True
    check_auth_tenant: bool = True
    check_ready: bool = True
    check_length: bool = True
    check_rate: bool = True
    keep_open_on_bad_json: bool = True
    answer_unknown_type: bool = True
    answer_ping: bool = True
    close_on_auth_timeout: bool = True
    end_replies: bool = True

    def draw_init(self, rng: random.Random) -> tuple[Fate, float]:
        """The fate of one session and the seconds until it happens."""
        u = rng.random()
        if u < self.ready_timeout_rate:
            return Fate.NEVER_READY, 0.0
        ms = rng.gauss(self.init_ms, self.init_sd_ms) if self.init_sd_ms else self.init_ms
        seconds = min(max(ms, self.init_min_ms), self.init_max_ms) / 1000
        if u < self.ready_timeout_rate + self.server_error_rate:
            return Fate.SERVER_ERROR, seconds
        return Fate.READY, seconds

    def draw_gap(self, rng: random.Random) -> float:
        """Seconds between two chunks of a reply: log-normal around the median, as token
        streams are (mostly steady, now and then a long pause), at most 20 medians."""
        gap = self.chat_chunk_gap_ms
        if self.chat_chunk_gap_sigma and gap:
            gap = min(gap * math.exp(rng.gauss(0.0, self.chat_chunk_gap_sigma)), 20 * gap)
        return gap / 1000


PROFILES = {
    # The document's table: platform init 300-500 ms, p50 about 400, p95 at or under 500.
    "documented": Profile(
        "documented",
        init_ms=400,
        init_sd_ms=45,
        init_min_ms=300,
        init_max_ms=500,
        chat_first_ms=150,
        chat_chunks=4,
        chat_chunk_gap_ms=40,
        chat_chunk_gap_sigma=0.5,
    ),
    # No injected delays: for measuring the harness itself.
    "fast": Profile("fast"),
    # Slow init, some ready timeouts and 1011 closes: must fail the benchmark table.
    "degraded": Profile(
        "degraded",
        init_ms=700,
        init_sd_ms=120,
        init_min_ms=400,
        init_max_ms=2000,
        ready_timeout_rate=0.03,
        server_error_rate=0.03,
        chat_first_ms=400,
        chat_chunks=4,
        chat_chunk_gap_ms=120,
        chat_chunk_gap_sigma=0.8,
    ),
}


MAX_MS = 3_600_000  # an hour: a longer delay is a typing mistake


def _convert(name: str, kind: type, text: str) -> object:
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"profile knob {name}: {text!r} is not true/false")
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"profile knob {name}: {text!r} is not a {kind.__name__}") from None
    highs = {"_rate": 1, "_ms": MAX_MS, "_sigma": 3}  # sigma 3: a gap 20x the median is 1 in 6
    high = next((h for end, h in highs.items() if name.endswith(end)), None)
    problem = range_problem(value, 0, high) if isinstance(value, int | float) else None
    if problem:
        raise ConfigError(f"profile knob {name}: {text!r} {problem}")
    return value


RULE_KNOBS = tuple(f.name for f in dataclasses.fields(PlatformRules) if f.type in ("bool", bool))
"""The rule book's switches a profile carries: the optional frames and one per rule."""


def platform_rules(
    profile: Profile, tenant_id: str | None = None, auth_timeout_s: float = 10.0
) -> PlatformRules:
    """The rule book of a platform serving with this profile: its rule knobs passed on."""
    rules = PlatformRules(tenant_id=tenant_id, auth_timeout_s=auth_timeout_s)
    return dataclasses.replace(rules, **{name: getattr(profile, name) for name in RULE_KNOBS})


def build_profile(name: str, overrides: dict[str, str] | None = None) -> Profile:
    """A named profile with `name=value` overrides applied and validated."""
    if name not in PROFILES:
        raise ConfigError(f"--profile: unknown profile {name!r}; choose from {', '.join(PROFILES)}")
    profile = PROFILES[name]
    types = {f.name: f.type for f in dataclasses.fields(Profile) if f.name != "name"}
    kinds = {"float": float, "int": int, "bool": bool}
    changes: dict[str, Any] = {}
    for key, text in (overrides or {}).items():
        if key not in types:
            raise ConfigError(f"profile knob {key!r} is unknown; knobs: {', '.join(types)}")
        changes[key] = _convert(key, kinds[str(types[key])], text)
    profile = dataclasses.replace(profile, **changes)
    if profile.ready_timeout_rate + profile.server_error_rate > 1:
        raise ConfigError("profile knobs: ready_timeout_rate + server_error_rate exceed 1")
    if profile.chat_chunks < 1:
        raise ConfigError("profile knob chat_chunks: must be at least 1")
    if profile.init_min_ms > profile.init_max_ms:
        raise ConfigError("profile knobs: init_min_ms must be <= init_max_ms")
    return profile
