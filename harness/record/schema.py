"""What a run directory holds, by name and version. Every list of phases derives from the
session's `Phase` enum; every file's version has a line in its format history."""

from __future__ import annotations

import re

from harness.protocol.session import Phase

PHASES: tuple[str, ...] = tuple(p.value for p in Phase)
"""Every phase the session times, in lifecycle order."""


LABELS = ("step", "tenant")
"""What can break a phase down, as k6 tags do: `chat_complete{step:pricing_question}`."""
LABEL_VALUE = r"[A-Za-z0-9_.-]{1,128}"
STEP_PHASES: tuple[str, ...] = (Phase.CHAT_FIRST, Phase.CHAT_GAP, Phase.CHAT_COMPLETE)
"""The phases a step name labels: those of a chat."""
_LABELLED = re.compile(rf"([a-z_]+)\{{({'|'.join(LABELS)}):({LABEL_VALUE})\}}")


def label_problem(value: object) -> str | None:
    """Why `value` cannot name a step or tenant in a label, None if it can."""
    if isinstance(value, str) and re.fullmatch(LABEL_VALUE, value):
        return None
    return f"{value!r:.80} is not a name of 1 to 128 letters, digits, '.', '_' or '-'"


def labelled(phase: str, label: str, value: str) -> str:
    """The name of a phase's figures for one step or tenant: `chat_complete{step:x}`."""
    return f"{phase}{{{label}:{value}}}"


def split_labelled(name: str) -> tuple[str, str, str] | None:
    """(phase, label, value) of a labelled name, None for any other."""
    match = _LABELLED.fullmatch(name)
    return (match[1], match[2], match[3]) if match else None


def phase_order(phase: str) -> tuple[int, str]:
    """Sort key: lifecycle order (a labelled name with its phase), unknown phases last
    (alphabetically)."""
    split = split_labelled(phase)
    base = split[0] if split else phase
    return (PHASES.index(base) if base in PHASES else len(PHASES), phase)


SAMPLE_FIELDS = (
    "session_id",
    "phase",
    "start",
    "duration_us",
    "ok",
    "error",
    "attempt",
    "worker",
    "chunks",
    "chars_per_s",
    "step",
    "tenant",
)
"""Columns of samples/<worker>.csv: start in epoch seconds, duration in integer µs, ok 0/1,
error the error class of a failed phase, attempt 0 for a session's first connection; on a
completed reply (chat_complete) its chunks and the characters per second of its stream after
the first chunk (empty elsewhere, and for a stream of no measurable time: one chunk, or
chunks that arrived together); the step a script named for a chat (on its chat phases) and
the session's tenant in a run that mixes tenants (empty otherwise)."""

PERCENTILE_RULE = (
    "nearest rank: the p-th percentile of n values is the value at rank ceil(p/100*n); "
    "from raw samples it is an observed value, from a histogram the top of that value's "
    "bucket (3 significant figures)"
)

RUN_JSON = 3
HISTOGRAMS_JSON = 3
SAMPLES_CSV = 3
SUMMARY_JSON = 4

FORMATS: dict[str, dict[int, str]] = {
    "run.json": {
        1: "first version: run metadata, accounting, health, per-phase table (hdrh's "
        "round(p*N) percentile rank)",
        2: "status (complete, stopped, running, starting), planned_s, actual_s and "
        "stop_reason; samples (rows per process file, closed or not); workers_lost; "
        "accounting gains lost, interrupted_explained, interrupted_unexplained, "
        "protocol_violations and harness_errors; phase table by nearest rank "
        "(percentile_rule)",
        3: "clocks: each worker's host and its clock's offset from the master's (ms, the "
        "least of received - sent over its reports: an upper bound); benchmarks; accounting "
        "gains labels_dropped (samples counted without their step or tenant)",
    },
    "histograms.json": {
        1: "first version: per-phase base64 HdrHistogram (µs, 3 significant figures), errors",
        2: "unchanged content; the percentile rule readers apply is nearest rank",
        3: "phases also holds each phase by step and by tenant, named as "
        "`chat_complete{step:x}` and `ready{tenant:y}`",
    },
    "samples/<worker>.csv": {
        1: "first version: " + ", ".join(SAMPLE_FIELDS[:8]),
        2: "chunks and chars_per_s of each completed reply; the chat_gap phase",
        3: "step and tenant: the labels that break a phase down",
    },
    "summary.json": {
        1: "first version: verdict, phases, checks, error_budgets, lifecycles, health",
        2: "status, planned_s, actual_s, partial and lost_workers; an error budget row for "
        "every failed class (status unbudgeted when the table has none, op); "
        "lifecycles.lost; protocol_violations and harness_errors",
        3: "replies: count, chunks per reply (p50, p95, p100) and the stream's characters "
        "per second after its first chunk (p5, p50, p95); the chat_gap phase",
        4: "breakdown: the phase table by step and by tenant (`chat_complete{step:x}`), "
        "and checks on those names",
    },
}

READABLE = {"run.json": (1, RUN_JSON), "histograms.json": (1, HISTOGRAMS_JSON)}
"""Oldest and newest version of each file this harness reads."""
