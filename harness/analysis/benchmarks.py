"""The benchmark table as data: `scenarios/benchmarks.toml`, k6-style thresholds."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks import number, range_problem, read_text
from harness.errors import ConfigError, ErrorClass
from harness.record.schema import PHASES, STEP_PHASES, split_labelled

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "scenarios" / "benchmarks.toml"
STATS = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
_UNITS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}
_NUMBER = r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_CHECK = re.compile(
    rf"^\s*(p50|p90|p95|p99|p99\.9|max|mean)\s*(<=|<)\s*{_NUMBER}\s*(us|µs|ms|s)\s*$"
)
_RANGE = re.compile(rf"^\s*{_NUMBER}\s*(?:-\s*{_NUMBER})?\s*(us|µs|ms|s)\s*$")
_RATE = re.compile(rf"^\s*rate\s*(<=|<)\s*{_NUMBER}\s*%\s*$")
ERROR_CLASSES = tuple(c.value for c in ErrorClass)


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
    m = _CHECK.match(text) if isinstance(text, str) else None
    if not m:
        raise ConfigError(
            f'{where}: {text!r} is not a check; write e.g. "p95 < 500ms" '
            f"(stats: {', '.join(STATS)}; units: us, ms, s)"
        )
    stat, op, number, unit = m.groups()
    return Check(phase, stat, op, float(number) * _UNITS[unit])


def parse_range(text: object, where: str) -> tuple[float, float]:
    m = _RANGE.match(text) if isinstance(text, str) else None
    if not m:
        raise ConfigError(f'{where}: {text!r} is not a range; write e.g. "300-500ms" or "100ms"')
    low, high, unit = m.groups()
    scale = _UNITS[unit]
    if float(high or low) < float(low):
        raise ConfigError(f"{where}: {text!r}: the low end must come first")
    return float(low) * scale, float(high or low) * scale


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {value!r}")
    return value


def load_benchmarks(path: Path | None = None) -> Benchmarks:
    path = path or DEFAULT_FILE
    if not path.exists():
        raise ConfigError(f"--benchmarks: no such file: {path}")
    try:
        data = tomllib.loads(read_text(path, "benchmarks"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"benchmarks {path}: not valid TOML: {exc}") from None
    unknown = set(data) - {"phases", "errors", "analysis"}
    if unknown:
        raise ConfigError(f"benchmarks {path}: unknown table(s) {', '.join(sorted(unknown))}")
    phases: dict[str, PhaseSpec] = {}
    for phase, spec in _table(data.get("phases", {}), f"benchmarks {path.name} [phases]").items():
        where = f"benchmarks {path.name} [phases.{phase}]"
        split = split_labelled(phase)
        if (split[0] if split else phase) not in PHASES:
            raise ConfigError(
                f"{where}: no such phase; phases: {', '.join(PHASES)}, or one of them by "
                f'step or tenant, e.g. [phases."chat_complete{{step:pricing_question}}"]'
            )
        if split and split[1] == "step" and split[0] not in STEP_PHASES:
            raise ConfigError(
                f"{where}: {split[0]} has no steps (a step names a chat: {', '.join(STEP_PHASES)})"
            )
        spec = _table(spec, where)
        extra = set(spec) - {"documented", "description", "checks"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
        checks = spec.get("checks", [])
        if isinstance(checks, str):
            checks = [checks]
        if not isinstance(checks, list):
            raise ConfigError(f'{where} checks: expected a list such as ["p95 < 500ms"]')
        documented = spec.get("documented")
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{where} description: expected a string, got {description!r}")
        phases[phase] = PhaseSpec(
            None if documented is None else parse_range(documented, f"{where} documented"),
            description,
            tuple(parse_check(phase, c, f"{where} checks") for c in checks),
        )
    budgets = dict(DEFAULT_BUDGETS)
    for error_class, text in _table(
        data.get("errors", {}), f"benchmarks {path.name} [errors]"
    ).items():
        where = f"benchmarks {path.name} [errors] {error_class}"
        if error_class not in (*ERROR_CLASSES, "*"):
            raise ConfigError(
                f"{where}: no such error class; classes: {', '.join(ERROR_CLASSES)}, *"
            )
        m = _RATE.match(text) if isinstance(text, str) else None
        if not m:
            raise ConfigError(f'{where}: {text!r}; write e.g. "rate < 1%"')
        if float(m.group(2)) > 100:
            raise ConfigError(f"{where}: {text!r}; a rate is at most 100%")
        budgets[error_class] = Budget(error_class, m.group(1), float(m.group(2)) / 100)
    where = f"benchmarks {path.name} [analysis]"
    analysis = _table(data.get("analysis", {}), where)
    extra = set(analysis) - {"warmup_s", "confidence"}
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
    warmup = number(analysis.get("warmup_s", 0.0), f"{where} warmup_s", 0)
    confidence = number(analysis.get("confidence", 0.95), f"{where} confidence")
    if range_problem(confidence, 0.5, 1) or confidence == 1:
        raise ConfigError(f"{where} confidence: {confidence!r}; confidence in [0.5, 1)")
    checks = tuple(c for spec in phases.values() for c in spec.checks)
    if not checks:
        raise ConfigError(
            f"benchmarks {path}: no checks; a table must check at least one phase "
            '(e.g. [phases.ready] checks = ["p95 < 600ms"])'
        )
    return Benchmarks(phases, budgets, warmup, confidence, str(path), checks)
