"""The run record's schema: phases from the enum, format history documented."""

from pathlib import Path

from harness.protocol.session import Phase
from harness.record.schema import FORMATS, PHASES, READABLE, RUN_JSON, phase_order

DOC = Path(__file__).resolve().parents[2] / "docs" / "RUN_RECORD.md"


def test_phases_are_the_session_enum_in_lifecycle_order() -> None:
    assert [*PHASES] == [p.value for p in Phase]
    assert sorted(["reconnect", "zzz", "connect", "ready"], key=phase_order) == [
        "connect",
        "ready",
        "reconnect",
        "zzz",
    ]


def test_every_format_version_is_documented_and_the_newest_is_readable() -> None:
    doc = DOC.read_text().replace("&lt;", "<").replace("&gt;", ">")
    for name, history in FORMATS.items():
        for version, change in history.items():
            assert f"| {name} | {version} | {change} |" in doc, (name, version)
    assert READABLE["run.json"][1] == RUN_JSON == max(FORMATS["run.json"])
