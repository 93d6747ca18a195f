"""Telemetry on the wire: an event comes back equal, a ``telemetry --json`` row states the
age to a tenth of a second while the API's tag keeps it exact."""

from __future__ import annotations

from assistant.domain import TelemetryEvent
from assistant.plant import Limits
from assistant.schema.telemetry import EventOut, TagLine, TagOut
from assistant.telemetry.store import TagStatus


def test_an_event_goes_over_the_wire_and_back() -> None:
    event = TelemetryEvent(
        id="ev-1",
        asset="P-101",
        tag="",
        kind="anomaly",
        level="anomaly",
        state="raised",
        ts=1.7e9,
        value=None,
        message="P-101 behaves unlike its normal pattern",
        values=(("flow", 12.5), ("discharge_pressure", 3.25)),
    )
    shaped = EventOut.from_domain(event)
    assert shaped.tags == ["flow", "discharge_pressure"]
    assert EventOut.model_validate_json(shaped.model_dump_json()).to_domain() == event
    alarm = EventOut.from_domain(
        TelemetryEvent("ev-2", "ST-101", "dp", "limit", "hi", "cleared", 1.0, 0.2, "back")
    )
    assert (alarm.values, alarm.tags) == ({}, ["dp"])


def test_a_row_rounds_the_age_and_the_api_tag_keeps_it() -> None:
    status = TagStatus(
        asset="ST-101",
        tag="dp",
        name="Differential pressure",
        unit="bar",
        value=0.38,
        ts=1.7e9,
        age_s=2.3456,
        state="hi",
        normal=(0.05, 0.3),
        limits=Limits(hi=0.35),
        stats=None,
        trend="rising",
    )
    assert TagLine.from_domain(status).model_dump(mode="json") == {
        "asset": "ST-101",
        "tag": "dp",
        "value": 0.38,
        "unit": "bar",
        "ts": 1.7e9,
        "age_s": 2.3,
        "state": "hi",
        "trend": "rising",
        "normal": [0.05, 0.3],
    }
    tag = TagOut.from_domain(status, [(1.7e9 - 1, 0.37), (1.7e9, 0.38)]).model_dump(mode="json")
    assert tag["age_s"] == 2.3456 and tag["limits"] == {
        "lolo": None,
        "lo": None,
        "hi": 0.35,
        "hihi": None,
    }
    assert tag["window"] == [[1.7e9 - 1, 0.37], [1.7e9, 0.38]]
