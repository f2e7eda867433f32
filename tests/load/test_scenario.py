import re
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.load.scenario import ScenarioShape, available_scenarios, load_scenario


def test_every_bundled_scenario_loads() -> None:
    names = available_scenarios()
    assert {
        "smoke",
        "baseline",
        "ramp",
        "spike",
        "soak",
        "held",
        "reconnect_storm",
        "arrival",
    } <= set(names)
    for name in names:
        s = load_scenario(name)
        assert s.duration_s > 0
    assert load_scenario("arrival").user_class == "ArrivalUser"
    assert load_scenario("reconnect_storm").drop_at_s == 30


def test_shape_walks_the_stages_then_stops() -> None:
    s = load_scenario("spike")
    shape = ScenarioShape(s, [object])
    shape.get_run_time = lambda: 10  # type: ignore[method-assign]
    assert shape.tick() == (30, 10, [object])
    shape.get_run_time = lambda: 45  # type: ignore[method-assign]
    assert shape.tick()[:2] == (400, 200)  # type: ignore[index]
    shape.get_run_time = lambda: 91  # type: ignore[method-assign]
    assert shape.tick() is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "user_class = 'Nope'\n[[stages]]\nduration_s=1\nusers=1\nspawn_rate=1",
            "user_class must be one of",
        ),
        (
            "[users]\nchats = 1\n[[stages]]\nduration_s=1\nusers=1\nspawn_rate=1",
            "unknown key(s) chats",
        ),
        ("description = 'no shape'", "needs [[stages]] or [arrival]"),
        ("[[stages]]\nduration_s='long'\nusers=1\nspawn_rate=1", "expected a finite number"),
        ("[arrival]\nrate=1\nduration_s=1\nprocess='burst'", "'poisson' or 'constant'"),
        ("this is = = not toml", "not valid TOML"),
        (
            "colour = 'red'\n[[stages]]\nduration_s=1\nusers=1\nspawn_rate=1",
            "unknown key(s) colour",
        ),
    ],
)
def test_malformed_scenarios_are_refused_clearly(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(words)):
        load_scenario(str(path))


def test_unknown_scenario_name_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="choose from arrival, baseline"):
        load_scenario("nonexistent")
