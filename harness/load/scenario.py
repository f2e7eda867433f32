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

from harness.errors import ConfigError

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
USER_CLASSES = ("LifecycleUser", "HeldSessionUser", "ArrivalUser")


@dataclass(frozen=True)
class Knobs:
    """How a simulated user behaves."""

    chats_per_session: int = 1
    think_time_s: tuple[float, float] = (1.0, 3.0)
    message_length: int = 80
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


def _build(kind: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    names = {f.name: f for f in fields(kind)}
    unknown = set(table) - set(names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values = {}
    for key, value in table.items():
        kind_name = str(names[key].type)
        if kind_name.startswith("tuple"):
            if not (isinstance(value, list) and len(value) == 2):
                raise ConfigError(f"{where}.{key}: expected [low, high]")
            value = tuple(float(v) for v in value)
        elif kind_name.startswith(("int", "float")):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
            if kind_name.startswith("int") and value != int(value):
                raise ConfigError(f"{where}.{key}: expected a whole number, got {value!r}")
            if value < 0:
                raise ConfigError(f"{where}.{key}: must be >= 0")
        elif kind_name == "str" and not isinstance(value, str):
            raise ConfigError(f"{where}.{key}: expected a string, got {value!r}")
        values[key] = value
    try:
        return kind(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


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
    if not path.is_file():
        raise ConfigError(
            f"--scenario {name}: no such scenario; choose from {', '.join(available_scenarios())}"
        )
    try:
        data = tomllib.loads(path.read_text())
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
    user_class = data.get("user_class", "LifecycleUser")
    if user_class not in USER_CLASSES:
        raise ConfigError(f"{where}: user_class must be one of {', '.join(USER_CLASSES)}")
    stages = tuple(
        _build(Stage, s, f"{where} stages[{i}]") for i, s in enumerate(data.get("stages", []))
    )
    arrival = _build(Arrival, data["arrival"], f"{where} arrival") if "arrival" in data else None
    if arrival is None and not stages:
        raise ConfigError(f"{where}: needs [[stages]] or [arrival]")
    if arrival is not None and arrival.process not in ("poisson", "constant"):
        raise ConfigError(f"{where} arrival.process: 'poisson' or 'constant'")
    platform = data.get("platform", {})
    health = data.get("health", {})
    return Scenario(
        name=path.stem,
        description=str(data.get("description", "")),
        user_class="ArrivalUser" if arrival is not None else user_class,
        knobs=_build(Knobs, data.get("users", {}), f"{where} users"),
        stages=stages,
        arrival=arrival,
        settings=dict(data.get("settings", {})),
        platform_profile=str(platform.get("profile", "documented")),
        platform_knobs={k: str(v) for k, v in platform.get("knobs", {}).items()},
        platform_seed=platform.get("seed"),
        platform_workers=int(platform.get("workers", 1)),
        drop_at_s=data.get("drop_at_s"),
        max_loop_lag_ms=health.get("max_loop_lag_ms"),
    )


class ScenarioShape(LoadTestShape):
    """Locust's shape for a scenario: its stages in order, then stop."""

    def __init__(self, scenario: Scenario, user_class: type) -> None:
        super().__init__()
        self.scenario = scenario
        self.user_class = user_class
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
                return stage.users, stage.spawn_rate, [self.user_class]
            elapsed -= stage.duration_s
        return None
