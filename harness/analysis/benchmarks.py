"""The benchmark table as data: `scenarios/benchmarks.toml`, k6-style thresholds."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "scenarios" / "benchmarks.toml"
STATS = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
_UNITS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}
_CHECK = re.compile(
    r"^\s*(p50|p90|p95|p99|p99\.9|max|mean)\s*(<=|<)\s*([0-9.]+)\s*(us|µs|ms|s)\s*$"
)
_RANGE = re.compile(r"^\s*([0-9.]+)\s*(?:-\s*([0-9.]+))?\s*(us|µs|ms|s)\s*$")
_RATE = re.compile(r"^\s*rate\s*(<=|<)\s*([0-9.]+)\s*%\s*$")


@dataclass(frozen=True)
class Check:
    phase: str
    stat: str
    op: str  # "<" or "<="
    limit_ms: float

    @property
    def text(self) -> str:
        return f"{self.stat} {self.op} {self.limit_ms:g}ms"

    def passes(self, value_ms: float) -> bool:
        return value_ms < self.limit_ms if self.op == "<" else value_ms <= self.limit_ms


@dataclass(frozen=True)
class PhaseSpec:
    documented: tuple[float, float] | None  # ms
    description: str
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Budget:
    error_class: str  # "*" for every class not named
    op: str
    rate: float  # a fraction of lifecycles started

    def passes(self, value: float) -> bool:
        return value < self.rate if self.op == "<" else value <= self.rate


DEFAULT_BUDGETS = {name: Budget(name, "<=", 0.0) for name in ("protocol_error", "harness_error")}
"""Budgets every table has unless it sets its own: a platform that breaks the protocol, or
a bug of the harness, fails the run however rarely it happens."""


@dataclass(frozen=True)
class Benchmarks:
    phases: dict[str, PhaseSpec]
    budgets: dict[str, Budget]
    warmup_s: float = 0.0
    confidence: float = 0.95
    source: str = ""
    checks: tuple[Check, ...] = field(default=())

    def budget_for(self, error_class: str) -> Budget | None:
        return self.budgets.get(error_class) or self.budgets.get("*")


def parse_check(phase: str, text: object, where: str) -> Check:
    m = _CHECK.match(str(text))
    if not m:
        raise ConfigError(
            f'{where}: {text!r} is not a check; write e.g. "p95 < 500ms" '
            f"(stats: {', '.join(STATS)}; units: us, ms, s)"
        )
    stat, op, number, unit = m.groups()
    return Check(phase, stat, op, float(number) * _UNITS[unit])


def parse_range(text: object, where: str) -> tuple[float, float]:
    m = _RANGE.match(str(text))
    if not m:
        raise ConfigError(f'{where}: {text!r} is not a range; write e.g. "300-500ms" or "100ms"')
    low, high, unit = m.groups()
    scale = _UNITS[unit]
    return float(low) * scale, float(high or low) * scale


def load_benchmarks(path: Path | None = None) -> Benchmarks:
    path = path or DEFAULT_FILE
    if not path.is_file():
        raise ConfigError(f"--benchmarks: no such file: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"benchmarks {path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"phases", "errors", "analysis"}
    if unknown:
        raise ConfigError(f"benchmarks {path}: unknown table(s) {', '.join(sorted(unknown))}")
    phases: dict[str, PhaseSpec] = {}
    for phase, spec in data.get("phases", {}).items():
        where = f"benchmarks {path.name} [phases.{phase}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a table")
        extra = set(spec) - {"documented", "description", "checks"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
        checks = spec.get("checks", [])
        if isinstance(checks, str):
            checks = [checks]
        documented = spec.get("documented")
        phases[phase] = PhaseSpec(
            parse_range(documented, f"{where} documented") if documented else None,
            str(spec.get("description", "")),
            tuple(parse_check(phase, c, f"{where} checks") for c in checks),
        )
    budgets = dict(DEFAULT_BUDGETS)
    for error_class, text in data.get("errors", {}).items():
        m = _RATE.match(str(text))
        if not m:
            raise ConfigError(
                f'benchmarks {path.name} [errors] {error_class}: {text!r}; write e.g. "rate < 1%"'
            )
        budgets[error_class] = Budget(error_class, m.group(1), float(m.group(2)) / 100)
    analysis = data.get("analysis", {})
    try:
        warmup = float(analysis.get("warmup_s", 0.0))
        confidence = float(analysis.get("confidence", 0.95))
    except (TypeError, ValueError):
        raise ConfigError(f"benchmarks {path.name} [analysis]: numbers expected") from None
    if not 0.5 <= confidence < 1 or warmup < 0:
        raise ConfigError(f"benchmarks {path.name} [analysis]: confidence in [0.5, 1), warmup >= 0")
    return Benchmarks(
        phases,
        budgets,
        warmup,
        confidence,
        str(path),
        tuple(c for spec in phases.values() for c in spec.checks),
    )
