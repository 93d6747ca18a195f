"""State-based alarm suppression: a stopped (standby) pump is not in alarm."""

from __future__ import annotations

from assistant.domain import Reading, TelemetryEvent
from assistant.plant import parse_plant
from assistant.settings import TelemetrySettings
from assistant.telemetry.store import TelemetryStore

PLANT = parse_plant(
    {
        "site": "t",
        "assets": [
            {
                "id": "P-1",
                "name": "pump",
                "type": "pump",
                "running_when": {"tag": "motor_current", "above": 10.0},
                "tags": [
                    {"id": "motor_current", "unit": "A", "normal": [80, 100]},
                    {
                        "id": "flow",
                        "unit": "m3/h",
                        "normal": [260, 340],
                        "limits": {"lolo": 110, "lo": 200},
                    },
                ],
            }
        ],
    }
)


def test_stopped_pump_raises_no_alarm_and_clears_active_ones_on_stopping() -> None:
    events: list[TelemetryEvent] = []
    store = TelemetryStore(PLANT, TelemetrySettings(anomaly=False), on_event=events.append)
    store.add(Reading("P-1", "flow", 0.0, 1.0))  # running state not known yet: no alarm
    store.add(Reading("P-1", "motor_current", 0.0, 1.0))
    store.add(Reading("P-1", "flow", 0.0, 2.0))
    assert events == []
    assert store.status("P-1", "flow").state == "stopped"
    assert store.running("P-1") is False

    store.add(Reading("P-1", "motor_current", 90.0, 3.0))
    store.add(Reading("P-1", "flow", 150.0, 3.0))
    assert {(e.level, e.state) for e in events} == {("lo", "raised")}
    assert store.status("P-1", "flow").state == "lo"

    store.add(Reading("P-1", "motor_current", 0.0, 4.0))
    cleared = events[-1]
    assert (cleared.level, cleared.state, cleared.value) == ("lo", "cleared", None)
    assert "suppressed: P-1 stopped" in cleared.message
    assert store.active_events() == []


def test_running_condition_must_name_a_tag_of_the_asset() -> None:
    import pytest

    from assistant.errors import ConfigError

    data = {
        "site": "t",
        "assets": [
            {
                "id": "P-1",
                "name": "p",
                "type": "pump",
                "running_when": {"tag": "speed", "above": 1},
                "tags": [{"id": "flow"}],
            }
        ],
    }
    with pytest.raises(ConfigError, match=r"assets\[P-1\]: running_when.tag 'speed'"):
        parse_plant(data)
