"""Scenarios as data: `scenarios/<name>.toml` -> a validated Scenario, and its Locust shape.

A scenario names its user class and knobs, its load shape (stages, or an open-model arrival
rate), harness settings (the `[settings]` layer of the configuration), the reference
platform's profile for runs with no target, and the harness-health tolerance.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from locust import LoadTestShape

from harness.checks import number, read_text, whole
from harness.errors import ConfigError
from harness.server.profiles import build_profile

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
USER_CLASSES = ("LifecycleUser", "HeldSessionUser", "ArrivalUser")


@dataclass(frozen=True)
class Knobs:
    """How a simulated user behaves."""

    chats_per_session: int | None = None  # None: each conversation's turns
    # between turns, uniform in [low, high]; None: each turn's own think_s, else (1, 3)
    think_time_s: tuple[float, float] | None = None
    message_length: int | None = None  # None: the conversations' texts; N: N-character filler
    conversations: str | None = None  # a JSONL or CSV file (None: the bundled corpus)
    session_duration_s: float = 0.0  # held sessions: 0 = until the run ends
    chat_interval_s: float = 60.0  # held sessions: a chat this often
    pause_s: float = 0.0  # lifecycle users: pause between lifecycles
    # Locust starts each second's users at once; each waits a random part of this first,
    # so they arrive spread out as browsers do, not as a burst every second (0: off)
    start_spread_s: float = 1.0


@dataclass(frozen=True)
class Stage:
    duration_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class Arrival:
    """Open model: lifecycles start at `rate`/s whatever completes."""

    rate: float
    duration_s: float
    process: str = "poisson"  # or "constant"
    schedulers: int = 1  # ArrivalUsers sharing the rate (one per worker process is typical)
    seed: int | None = None
    drain_s: float = 5.0  # after the last arrival, time for lifecycles in flight to finish


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    user_class: str = "LifecycleUser"
    knobs: Knobs = field(default_factory=Knobs)
    stages: tuple[Stage, ...] = ()
    arrival: Arrival | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    platform_profile: str = "documented"
    platform_knobs: dict[str, str] = field(default_factory=dict)
    platform_seed: int | None = None
    platform_workers: int = 1
    drop_at_s: float | None = None  # reconnect storm: the platform drops every session then
    max_loop_lag_ms: float | None = None

    @property
    def duration_s(self) -> float:
        if self.arrival is not None:
            return self.arrival.duration_s + self.arrival.drain_s
        return sum(s.duration_s for s in self.stages)


# Lower bounds, by field name: (bound, exclusive). Every other number must be >= 0.
_LOWER: dict[str, tuple[float, bool]] = {
    "message_length": (1, False),
    "chat_interval_s": (0, True),
    "duration_s": (0, True),
    "spawn_rate": (0, True),
    "rate": (0, True),
    "schedulers": (1, False),
}


def _build(kind: type, table: Any, where: str) -> Any:
    """A Knobs, Stage or Arrival from a TOML table, every value checked against its field."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {table!r}")
    names = {f.name: f for f in fields(kind)}
    unknown = set(table) - set(names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        kind_name = str(names[key].type)
        what = f"{where}.{key}"
        low, above = _LOWER.get(key, (0, False))
        if kind_name.startswith("tuple"):
            if not (isinstance(value, list) and len(value) == 2):
                raise ConfigError(f"{what}: expected [low, high], got {value!r}")
            pair = tuple(number(v, what, 0) for v in value)
            if pair[0] > pair[1]:
                raise ConfigError(f"{what}: {value!r}: low must be <= high")
            value = pair
        elif kind_name.startswith("int"):
            value = whole(value, what, low if not above else low + 1)
        elif kind_name.startswith("float"):
            value = number(value, what, low, above=above)
        elif kind_name.startswith("str") and not isinstance(value, str):
            raise ConfigError(f"{what}: expected a string, got {value!r}")
        values[key] = value
    try:
        return kind(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table, got {value!r}")
    return value


def _platform(data: dict[str, Any], where: str) -> tuple[str, dict[str, str], int | None, int]:
    """[platform]: the embedded platform's profile and knobs (checked as `serve` would), seed
    and worker processes."""
    platform = _table(data, "platform", where)
    where = f"{where} platform"
    unknown = set(platform) - {"profile", "knobs", "seed", "workers"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    profile = platform.get("profile", "documented")
    if not isinstance(profile, str):
        raise ConfigError(f"{where}.profile: expected a profile name, got {profile!r}")
    knobs = platform.get("knobs", {})
    if not isinstance(knobs, dict) or not all(
        isinstance(v, str | int | float | bool) for v in knobs.values()
    ):
        raise ConfigError(f"{where}.knobs: expected a table of knob = value, got {knobs!r}")
    text = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in knobs.items()}
    try:
        build_profile(profile, text)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    seed = platform.get("seed")
    workers = whole(platform.get("workers", 1), f"{where}.workers", 1, 64)
    return (
        profile,
        text,
        None if seed is None else whole(seed, f"{where}.seed", 0),
        workers,
    )


def scenario_path(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".toml" or path.exists():
        return path
    return SCENARIO_DIR / f"{name}.toml"


def available_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml") if p.stem != "benchmarks")


def load_scenario(name: str) -> Scenario:
    """A scenario by name (scenarios/NAME.toml) or path; ConfigError if missing or malformed."""
    path = scenario_path(name)
    if not path.exists():
        raise ConfigError(
            f"--scenario {name}: no such scenario; choose from {', '.join(available_scenarios())}"
        )
    try:
        data = tomllib.loads(read_text(path, "scenario"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario {path}: not valid TOML: {exc}") from None
    where = f"scenario {path.name}"
    allowed = {
        "description",
        "user_class",
        "users",
        "stages",
        "arrival",
        "settings",
        "platform",
        "drop_at_s",
        "health",
    }
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string, got {description!r}")
    user_class = data.get("user_class", "LifecycleUser")
    if not isinstance(user_class, str) or user_class not in USER_CLASSES:
        raise ConfigError(f"{where}: user_class must be one of {', '.join(USER_CLASSES)}")
    listed = data.get("stages", [])
    if not isinstance(listed, list):
        raise ConfigError(f"{where}: stages must be a list of tables ([[stages]]), got {listed!r}")
    stages = tuple(_build(Stage, s, f"{where} stages[{i}]") for i, s in enumerate(listed))
    arrival = _build(Arrival, data["arrival"], f"{where} arrival") if "arrival" in data else None
    if arrival is None and not stages:
        raise ConfigError(f"{where}: needs [[stages]] or [arrival]")
    if arrival is not None and arrival.process not in ("poisson", "constant"):
        raise ConfigError(f"{where} arrival.process: 'poisson' or 'constant'")
    settings = _table(data, "settings", where)
    health = _table(data, "health", where)
    if set(health) - {"max_loop_lag_ms"}:
        raise ConfigError(f"{where} health: the only key is max_loop_lag_ms")
    lag = health.get("max_loop_lag_ms")
    drop_at = data.get("drop_at_s")
    profile, knobs, seed, workers = _platform(data, where)
    return Scenario(
        name=path.stem,
        description=description,
        user_class="ArrivalUser" if arrival is not None else user_class,
        knobs=_build(Knobs, _table(data, "users", where), f"{where} users"),
        stages=stages,
        arrival=arrival,
        settings=dict(settings),
        platform_profile=profile,
        platform_knobs=knobs,
        platform_seed=seed,
        platform_workers=workers,
        drop_at_s=None if drop_at is None else number(drop_at, f"{where} drop_at_s", 0),
        max_loop_lag_ms=None
        if lag is None
        else number(lag, f"{where} health.max_loop_lag_ms", 0, above=True),
    )


class ScenarioShape(LoadTestShape):
    """Locust's shape for a scenario: its stages in order, then stop."""

    def __init__(self, scenario: Scenario, user_classes: list[type]) -> None:
        super().__init__()
        self.scenario = scenario
        self.user_classes = user_classes
        if scenario.arrival is not None:
            a = scenario.arrival
            length = a.duration_s + a.drain_s
            self.stages: tuple[Stage, ...] = (Stage(length, a.schedulers, a.schedulers),)
        else:
            self.stages = scenario.stages

    def tick(self) -> tuple[int, float, list[type]] | None:
        elapsed = self.get_run_time()
        for stage in self.stages:
            if elapsed < stage.duration_s:
                return stage.users, stage.spawn_rate, self.user_classes
            elapsed -= stage.duration_s
        return None
