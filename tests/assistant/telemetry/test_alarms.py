"""Limit alarms: four levels, deadband hysteresis, escalation and readable messages."""

from __future__ import annotations

import pytest

from assistant.domain import TelemetryEvent
from assistant.plant import Limits, TagSpec
from assistant.telemetry.alarms import LimitAlarm, format_number

PRESSURE = TagSpec(
    id="discharge_pressure",
    unit="bar",
    normal=(3.8, 4.6),
    limits=Limits(lolo=2.6, lo=3.2, hi=5.0, hihi=5.5),
    deadband=0.05,
)


def feed(alarm: LimitAlarm, values: list[float]) -> list[TelemetryEvent]:
    """Feed values one second apart; return every event."""
    events: list[TelemetryEvent] = []
    for i, value in enumerate(values):
        events.extend(alarm.update(value, 1000.0 + i))
    return events


def summary(events: list[TelemetryEvent]) -> list[tuple[str, str]]:
    """Return (level, state) of each event."""
    return [(e.level, e.state) for e in events]


def test_hi_raises_at_the_limit_and_clears_only_below_the_deadband() -> None:
    alarm = LimitAlarm("P-101", PRESSURE)
    assert feed(alarm, [4.2, 4.99]) == []
    raised = alarm.update(5.0, 10.0)
    assert summary(raised) == [("hi", "raised")]
    assert feed(alarm, [4.97, 4.951, 5.02]) == []  # inside the deadband: still raised
    assert alarm.worst == "hi"
    cleared = alarm.update(4.94, 20.0)
    assert summary(cleared) == [("hi", "cleared")]
    assert alarm.worst is None


def test_no_chattering_when_the_value_oscillates_inside_the_deadband() -> None:
    alarm = LimitAlarm("P-101", PRESSURE)
    wobble = [5.01, 4.97, 5.03, 4.96, 5.0, 4.99, 5.02, 4.955] * 20
    events = feed(alarm, wobble)
    assert summary(events) == [("hi", "raised")]
    low = LimitAlarm("P-101", PRESSURE)
    events = feed(low, [3.19, 3.22, 3.18, 3.24, 3.2, 3.249] * 20 + [3.26])
    assert summary(events) == [("lo", "raised"), ("lo", "cleared")]


def test_escalation_to_hihi_and_back() -> None:
    alarm = LimitAlarm("P-101", PRESSURE)
    events = feed(alarm, [5.1, 5.6, 5.47, 5.3, 4.9])
    assert summary(events) == [
        ("hi", "raised"),
        ("hihi", "raised"),  # escalation: hi stays raised
        ("hihi", "cleared"),  # de-escalation at 5.3 < 5.5 - 0.05, not at 5.47
        ("hi", "cleared"),
    ]
    assert [e.ts for e in events] == [1000.0, 1001.0, 1003.0, 1004.0]


def test_a_jump_straight_past_hihi_raises_both_and_a_drop_clears_both() -> None:
    alarm = LimitAlarm("P-101", PRESSURE)
    assert summary(alarm.update(6.0, 1.0)) == [("hi", "raised"), ("hihi", "raised")]
    assert alarm.worst == "hihi"
    assert summary(alarm.update(4.0, 2.0)) == [("hihi", "cleared"), ("hi", "cleared")]


def test_low_side_lolo_and_a_swing_from_high_to_low() -> None:
    alarm = LimitAlarm("P-101", PRESSURE)
    assert summary(feed(alarm, [3.0, 2.5])) == [("lo", "raised"), ("lolo", "raised")]
    assert alarm.worst == "lolo"
    assert summary(alarm.update(2.64, 5.0)) == []  # 2.64 <= 2.6 + 0.05
    assert summary(alarm.update(5.2, 6.0)) == [
        ("lolo", "cleared"),
        ("lo", "cleared"),
        ("hi", "raised"),
    ]


def test_event_content_and_messages() -> None:
    alarm = LimitAlarm("P-101", PRESSURE)
    (raised,) = alarm.update(3.05, 1234.5)
    assert raised.kind == "limit"
    assert raised.asset == "P-101"
    assert raised.tag == "discharge_pressure"
    assert raised.value == 3.05
    assert raised.ts == 1234.5
    assert raised.values == (("discharge_pressure", 3.05),)
    assert raised.message == "P-101 discharge_pressure 3.05 bar below lo limit 3.2 bar"
    assert len(raised.id) == 12
    (cleared,) = alarm.update(3.3, 1240.0)
    assert cleared.message == (
        "P-101 discharge_pressure 3.3 bar back above lo limit 3.2 bar (deadband 0.05 bar)"
    )
    assert cleared.id != raised.id
    at_limit = LimitAlarm("P-101", PRESSURE).update(5.0, 1.0)[0]
    assert at_limit.message == "P-101 discharge_pressure 5 bar at hi limit 5 bar"


def test_tags_without_limits_or_with_only_some() -> None:
    bare = LimitAlarm("HX-12", TagSpec(id="inlet_temp", unit="°C"))
    assert not bare.has_limits
    assert feed(bare, [1e9, -1e9]) == []
    only_hi = LimitAlarm("HX-12", TagSpec(id="inlet_temp", unit="°C", limits=Limits(hi=46.0)))
    assert summary(feed(only_hi, [47.0, 100.0, -50.0])) == [("hi", "raised"), ("hi", "cleared")]


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.05, "3.05"), (115.0, "115"), (0.15, "0.15"), (85.126, "85.13"), (123456.7, "123457")],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text
