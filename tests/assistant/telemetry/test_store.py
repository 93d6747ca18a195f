"""The telemetry store: ingestion, status, staleness, events to the sink, thread safety."""

from __future__ import annotations

import itertools
import logging
import math
import threading

import numpy as np
import pytest

from assistant.domain import Reading, TelemetryEvent
from assistant.errors import TelemetryError
from assistant.plant import PlantSpec
from assistant.settings import TelemetrySettings
from assistant.telemetry.store import TelemetryStore
from tests.assistant.telemetry.conftest import T0, FakeClock


def make_store(
    plant: PlantSpec, clock: FakeClock, sink: list[TelemetryEvent] | None = None, **settings: float
) -> TelemetryStore:
    """Build a store on a fake clock, anomaly detection off unless asked."""
    values = {"anomaly": False, **settings}
    return TelemetryStore(
        plant,
        TelemetrySettings.model_validate(values),
        on_event=sink.append if sink is not None else None,
        clock=clock,
    )


def test_status_follows_the_value_through_its_states(plant: PlantSpec) -> None:
    clock = FakeClock()
    events: list[TelemetryEvent] = []
    store = make_store(plant, clock, events)
    assert store.status("P-101", "discharge_pressure").state == "no data"
    store.add(Reading("P-101", "motor_current", 90.0, T0 - 1))  # running: alarms apply
    for i, value in enumerate([4.2, 4.2, 4.2]):
        clock.now = T0 + i
        store.add(Reading("P-101", "discharge_pressure", value, T0 + i))
    status = store.status("P-101", "discharge_pressure")
    assert (status.state, status.value, status.ts, status.age_s) == ("normal", 4.2, T0 + 2, 0.0)
    assert (status.name, status.unit, status.normal) == ("Discharge pressure", "bar", (3.8, 4.6))
    assert status.limits.hi == 5.0
    assert status.stats is not None and status.stats.n == 3
    assert status.trend == "steady"
    clock.now = T0 + 3
    store.add(Reading("P-101", "discharge_pressure", 4.7, T0 + 3))
    assert store.status("P-101", "discharge_pressure").state == "outside normal"
    clock.now = T0 + 4
    store.add(Reading("P-101", "discharge_pressure", 5.6, T0 + 4))
    status = store.status("p-101", "discharge_pressure")  # asset ids are case-insensitive
    assert status.state == "hihi"
    assert status.trend == "rising"
    assert [(e.level, e.state) for e in events] == [("hi", "raised"), ("hihi", "raised")]
    assert {e.level for e in store.active_events("P-101")} == {"hi", "hihi"}
    clock.now = T0 + 5
    store.add(Reading("P-101", "discharge_pressure", 3.0, T0 + 5))
    assert store.status("P-101", "discharge_pressure").state == "lo"
    assert [e.level for e in store.active_events()] == ["lo"]


def test_counts_and_ignores_what_it_cannot_store(plant: PlantSpec) -> None:
    clock = FakeClock()
    store = make_store(plant, clock)
    store.add_many(
        [
            Reading("P-101", "flow", 300.0, T0),
            Reading("P-999", "flow", 300.0, T0),
            Reading("P-101", "torque", 1.0, T0),
            Reading("P-101", "flow", 301.0, T0 - 5),
            Reading("P-101", "flow", 300.0, T0),
            Reading("P-101", "flow", math.nan, T0 + 1),
            Reading("P-101", "flow", math.inf, T0 + 1),
            Reading("p-101", "flow", 302.0, T0 + 1),
        ]
    )
    assert store.counters() == {
        "accepted": 2,
        "unknown": 2,
        "out_of_order": 1,
        "duplicate": 1,
        "non_finite": 2,
        "events": 0,
        "sink_errors": 0,
    }
    assert store.window("P-101", "flow", 60, now=T0 + 1) == [(T0, 300.0), (T0 + 1, 302.0)]


def test_unknown_asset_or_tag_in_a_query_is_a_key_error(plant: PlantSpec) -> None:
    store = make_store(plant, FakeClock())
    with pytest.raises(TelemetryError, match="P-999"):
        store.status("P-999", "flow")
    with pytest.raises(TelemetryError, match="has no tag 'torque'"):
        store.status("P-101", "torque")
    with pytest.raises(TelemetryError):
        store.asset_status("nope")
    with pytest.raises(TelemetryError):
        store.active_events("nope")


def test_window_and_asset_status(plant: PlantSpec) -> None:
    clock = FakeClock(T0 + 600)
    store = make_store(plant, clock)
    store.add_many(Reading("C-3", "oil_temp", 55.0 + i / 100, T0 + i) for i in range(601))
    window = store.window("C-3", "oil_temp", 10)
    assert [ts for ts, _ in window] == [T0 + i for i in range(590, 601)]
    assert window[-1][1] == pytest.approx(61.0)
    earlier = store.window("C-3", "oil_temp", 10, now=T0 + 100)
    assert earlier[0][0] == T0 + 90 and earlier[0][1] == pytest.approx(55.9)
    statuses = store.asset_status("C-3")
    assert [s.tag for s in statuses] == [
        "discharge_pressure",
        "discharge_temp",
        "motor_current",
        "oil_temp",
    ]
    oil = statuses[3]
    assert oil.stats is not None
    assert oil.stats.n == 301  # trend window: the last 300 s
    assert oil.stats.slope_per_min == pytest.approx(0.6)
    assert oil.trend == "rising"
    assert statuses[0].state == "no data" and statuses[0].stats is None


def test_stale_raises_once_and_clears_when_data_returns(plant: PlantSpec) -> None:
    clock = FakeClock()
    events: list[TelemetryEvent] = []
    store = make_store(plant, clock, events)  # period 1 s x 5 periods
    store.add(Reading("HX-12", "inlet_temp", 35.0, T0))
    assert store.check_stale(T0 + 5.0) == []
    raised = store.check_stale(T0 + 5.5)
    assert [(e.kind, e.state, e.tag, e.value) for e in raised] == [
        ("stale", "raised", "inlet_temp", 35.0)
    ]
    assert raised[0].message == (
        "HX-12 inlet_temp: no data for 6 s (expected every 1 s); last value 35 °C"
    )
    assert store.check_stale(T0 + 30) == []  # once, not on every check
    assert store.status("HX-12", "inlet_temp", now=T0 + 30).state == "stale"
    assert store.status("HX-12", "outlet_temp", now=T0 + 30).state == "no data"
    assert [e.kind for e in store.active_events("HX-12")] == ["stale"]
    clock.now = T0 + 40
    store.add(Reading("HX-12", "inlet_temp", 36.0, T0 + 40))
    assert [(e.kind, e.state) for e in events] == [("stale", "raised"), ("stale", "cleared")]
    assert events[-1].message == "HX-12 inlet_temp: data back after 40 s, 36 °C"
    assert store.active_events() == []
    assert store.status("HX-12", "inlet_temp").state == "normal"


def test_a_failing_sink_is_logged_and_ingestion_goes_on(
    plant: PlantSpec, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[TelemetryEvent] = []

    def sink(event: TelemetryEvent) -> None:
        seen.append(event)
        raise RuntimeError("history disk full")

    store = TelemetryStore(plant, TelemetrySettings(anomaly=False), on_event=sink)
    with caplog.at_level(logging.ERROR, logger="assistant.telemetry.store"):
        store.add(Reading("P-101", "motor_current", 120.0, T0))
        store.add(Reading("P-101", "motor_current", 140.0, T0 + 1))
    assert [e.level for e in seen] == ["hi", "hihi"]
    assert store.counters()["sink_errors"] == 2
    assert store.counters()["accepted"] == 2
    assert "history disk full" in caplog.text
    assert {e.level for e in store.active_events()} == {"hi", "hihi"}


def test_anomaly_events_reach_the_sink_and_the_active_list(plant: PlantSpec) -> None:
    rng = np.random.default_rng(5)
    clock = FakeClock()
    events: list[TelemetryEvent] = []
    store = make_store(plant, clock, events, anomaly=True, anomaly_warmup_samples=300)
    compressor = plant.asset("C-3")
    assert compressor is not None
    tags = {t.id: sum(t.normal or (0.0, 0.0)) / 2 for t in compressor.tags}
    for second in range(900):
        clock.now = T0 + second
        for tag, centre in tags.items():
            shift = 3.0 if tag == "oil_temp" and 600 <= second < 700 else 0.0
            value = centre + shift + rng.normal(0, 0.2)
            store.add(Reading("C-3", tag, value, T0 + second + 0.01 * len(tag)))
    anomalies = [e for e in events if e.kind == "anomaly"]
    assert [e.state for e in anomalies] == ["raised", "cleared"]
    assert 600 <= anomalies[0].ts - T0 < 640
    assert anomalies[0].values[0][0] == "oil_temp"
    assert store.active_events("C-3") == []


def test_memory_is_about_sixteen_bytes_per_sample(plant: PlantSpec) -> None:
    store = make_store(plant, FakeClock(), max_points_per_tag=4096)
    empty = store.memory_bytes()
    store.add_many(Reading("P-102", "flow", 300.0, T0 + i) for i in range(4096))
    assert store.memory_bytes() - empty == pytest.approx(4096 * 16, rel=0.02)


def test_concurrent_writers_and_readers(plant: PlantSpec) -> None:
    store = TelemetryStore(plant, TelemetrySettings(anomaly=True, anomaly_warmup_samples=50))
    writers = [("P-101", "flow"), ("P-102", "flow"), ("C-3", "oil_temp"), ("HX-12", "inlet_temp")]
    per_writer = 3000
    errors: list[BaseException] = []
    done = threading.Event()

    def write(asset: str, tag: str) -> None:
        try:
            for i in range(0, per_writer, 100):
                store.add_many(
                    Reading(asset, tag, 50.0 + (j % 7), T0 + j) for j in range(i, i + 100)
                )
                store.add(Reading(asset, tag, 0.0, T0))  # out of order, counted
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    def read() -> None:
        try:
            while not done.is_set():
                for asset, tag in writers:
                    points = store.window(asset, tag, 1e9, now=T0 + per_writer)
                    assert all(a[0] < b[0] for a, b in itertools.pairwise(points))
                    store.status(asset, tag, now=T0 + per_writer)
                store.active_events()
                store.counters()
                store.check_stale(T0)
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    threads = [threading.Thread(target=write, args=w) for w in writers]
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    if errors:
        raise errors[0]
    counters = store.counters()
    assert counters["accepted"] == per_writer * len(writers)
    assert counters["out_of_order"] + counters["duplicate"] == 30 * len(writers)
    for asset, tag in writers:
        points = store.window(asset, tag, 1e9, now=T0 + per_writer)
        assert [p[0] for p in points] == [T0 + j for j in range(per_writer)]
