"""The plant simulator: normal operation inside the normal ranges, faults across the limits."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assistant.domain import Reading
from assistant.errors import ConfigError
from assistant.plant import PlantSpec, load_plant, parse_plant
from connectors.codec import Decoder
from connectors.embedded_broker import EmbeddedBroker
from connectors.simulator import (
    FAULTS,
    PlantSimulator,
    parse_fault_spec,
    run_publisher,
)
from tests.connectors.test_embedded_broker import PahoPublisher, PahoSubscriber

PLANT_FILE = Path(__file__).resolve().parents[2] / "assistant" / "sample_plant" / "plant.toml"
START = 1_770_000_000.0
RUNNING = ("P-101", "ST-101", "C-3", "HX-12")

Series = dict[tuple[str, str], list[Reading]]


@pytest.fixture(scope="module")
def plant() -> PlantSpec:
    """Return the sample plant."""
    return load_plant(PLANT_FILE)


def _run(sim: PlantSimulator, seconds: int, dt: float = 1.0) -> Series:
    series: Series = defaultdict(list)
    for _ in range(round(seconds / dt)):
        for reading in sim.step(dt):
            series[(reading.asset, reading.tag)].append(reading)
    return series


def _values(series: Series, asset: str, tag: str, after_s: float = -1.0) -> list[float]:
    return [r.value for r in series[(asset, tag)] if r.ts - START > after_s]


def _outside_normal(plant: PlantSpec, series: Series, assets: tuple[str, ...]) -> list[str]:
    problems = []
    for (asset, tag), readings in series.items():
        if asset not in assets:
            continue
        spec = plant.tag(asset, tag)
        assert spec is not None and spec.normal is not None
        low, high = spec.normal
        bad = [r.value for r in readings if not low <= r.value <= high]
        if bad:
            problems.append(f"{asset}.{tag}: {len(bad)} outside {spec.normal}, e.g. {bad[0]}")
    return problems


def _first_crossing(
    plant: PlantSpec, series: Series, asset: str, tag: str, level: str
) -> float | None:
    spec = plant.tag(asset, tag)
    assert spec is not None
    limit = getattr(spec.limits, level)
    assert limit is not None, f"{asset}.{tag} has no {level} limit"
    below = level in ("lo", "lolo")
    for reading in series[(asset, tag)]:
        if (reading.value < limit) if below else (reading.value > limit):
            return reading.ts - START
    return None


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_normal_operation_stays_in_the_normal_ranges(plant: PlantSpec, seed: int) -> None:
    sim = PlantSimulator(plant, seed=seed, start_ts=START)
    series = _run(sim, 1800)
    assert _outside_normal(plant, series, RUNNING) == []
    assert len(series) == sum(len(a.tags) for a in plant.assets)
    # the compressor really cycles: loaded and unloaded currents and a pressure swing
    current = _values(series, "C-3", "motor_current")
    assert min(current) < 26 and max(current) > 55
    pressure = _values(series, "C-3", "discharge_pressure")
    assert min(pressure) < 6.7 and max(pressure) > 7.3


def test_the_standby_pump_publishes_honest_values(plant: PlantSpec) -> None:
    series = _run(PlantSimulator(plant, seed=5, start_ts=START), 600)
    assert set(_values(series, "P-102", "flow")) == {0.0}
    assert set(_values(series, "P-102", "motor_current")) == {0.0}
    for tag in ("suction_pressure", "discharge_pressure"):
        assert all(0.5 < v < 0.8 for v in _values(series, "P-102", tag)), tag
    assert all(v < 0.5 for v in _values(series, "P-102", "vibration"))
    assert all(v < 30 for v in _values(series, "P-102", "bearing_temp"))
    assert all(abs(v) < 0.03 for v in _values(series, "ST-102", "differential_pressure"))


def test_p102_as_duty_runs_normally_and_p101_stands_by(plant: PlantSpec) -> None:
    series = _run(PlantSimulator(plant, seed=1, start_ts=START, duty="P-102"), 600)
    assert _outside_normal(plant, series, ("P-102", "ST-102")) == []
    assert set(_values(series, "P-101", "flow")) == {0.0}


def test_same_seed_same_readings_and_other_seed_other_readings(plant: PlantSpec) -> None:
    def readings(seed: int) -> list[Reading]:
        sim = PlantSimulator(plant, seed=seed, start_ts=START)
        sim.inject("cavitation", "P-101", at_s=30)
        return [r for _ in range(120) for r in sim.step(1.0)]

    first, again, other = readings(7), readings(7), readings(8)
    assert first == again
    assert first != other
    assert [(r.asset, r.tag, r.ts) for r in first] == [(r.asset, r.tag, r.ts) for r in other]
    assert first[0].ts == START + 1.0 and first[-1].ts == START + 120.0
    units = {(a.id, t.id): t.unit for a in plant.assets for t in a.tags}
    assert all(r.unit == units[(r.asset, r.tag)] for r in first)


def test_cavitation_drops_suction_and_raises_vibration_within_two_minutes(
    plant: PlantSpec,
) -> None:
    sim = PlantSimulator(plant, seed=0, start_ts=START)
    sim.inject("cavitation", "P-101", at_s=120.0)
    series = _run(sim, 600)
    suction = _first_crossing(plant, series, "P-101", "suction_pressure", "lo")
    vibration = _first_crossing(plant, series, "P-101", "vibration", "hi")
    assert suction is not None and 120 < suction <= 240
    assert vibration is not None and 120 < vibration <= 240
    assert _first_crossing(plant, series, "P-101", "flow", "lo") is not None
    assert _first_crossing(plant, series, "P-101", "discharge_pressure", "lo") is not None
    normal_flow = _values(series, "P-101", "flow")[:110]
    cavitating = _values(series, "P-101", "flow", after_s=300)
    assert statistics.mean(cavitating) < 260 < statistics.mean(normal_flow)
    assert statistics.stdev(cavitating) > 4 * statistics.stdev(normal_flow)  # it fluctuates
    pressure = _values(series, "P-101", "discharge_pressure", after_s=300)
    assert statistics.stdev(pressure) > 0.05
    assert _outside_normal(plant, series, ("C-3", "HX-12")) == []


def test_bearing_wear_raises_vibration_and_bearing_temperature_progressively(
    plant: PlantSpec,
) -> None:
    sim = PlantSimulator(plant, seed=0, start_ts=START)
    sim.inject("bearing_wear", "P-101", at_s=60.0)
    series = _run(sim, 2400, dt=2.0)
    vibration = _first_crossing(plant, series, "P-101", "vibration", "hi")
    vibration_hh = _first_crossing(plant, series, "P-101", "vibration", "hihi")
    temperature = _first_crossing(plant, series, "P-101", "bearing_temp", "hi")
    assert vibration is not None and vibration_hh is not None and temperature is not None
    assert 60 < vibration < vibration_hh < 1200
    assert 60 < temperature < 2400
    windows = [
        statistics.mean(_values(series, "P-101", "bearing_temp")[i : i + 60])
        for i in range(0, 1200, 120)
    ]
    assert windows == sorted(windows) and windows[-1] - windows[0] > 15
    # the hydraulics are untouched
    assert _outside_normal(plant, series, ("ST-101",)) == []
    assert all(260 <= v <= 340 for v in _values(series, "P-101", "flow"))


def test_a_clogging_strainer_raises_its_dp_and_starves_the_pump(plant: PlantSpec) -> None:
    sim = PlantSimulator(plant, seed=0, start_ts=START)
    sim.inject("clogging_strainer", "ST-101", at_s=60.0)
    series = _run(sim, 900)
    assert _first_crossing(plant, series, "ST-101", "differential_pressure", "hi") is not None
    assert _first_crossing(plant, series, "ST-101", "differential_pressure", "hihi") is not None
    assert _first_crossing(plant, series, "P-101", "suction_pressure", "lo") is not None
    before = statistics.mean(_values(series, "P-101", "flow")[:55])
    after = statistics.mean(_values(series, "P-101", "flow", after_s=700))
    assert after < before - 40
    assert _outside_normal(plant, series, ("C-3", "HX-12")) == []
    assert all(abs(v) < 0.03 for v in _values(series, "ST-102", "differential_pressure"))


def test_strainer_clogging_can_be_named_by_its_pump(plant: PlantSpec) -> None:
    sim = PlantSimulator(plant, seed=0, start_ts=START)
    fault = sim.inject("clogging_strainer", "p-101", at_s=0.0, ramp_s=0.0)
    assert fault.asset == "ST-101"
    series = _run(sim, 120)
    assert _first_crossing(plant, series, "ST-101", "differential_pressure", "hi") == 1.0


def test_compressor_cooler_fouling_raises_discharge_temperature(plant: PlantSpec) -> None:
    sim = PlantSimulator(plant, seed=0, start_ts=START)
    sim.inject("cooler_fouling", "C-3", at_s=60.0)
    series = _run(sim, 3600, dt=2.0)
    crossing = _first_crossing(plant, series, "C-3", "discharge_temp", "hi")
    assert crossing is not None and 60 < crossing < 3600
    assert _first_crossing(plant, series, "C-3", "oil_temp", "hi") is not None
    assert _outside_normal(plant, series, ("HX-12", "P-101")) == []


def test_hx12_fouling_raises_the_approach_and_loop_temperatures(plant: PlantSpec) -> None:
    sim = PlantSimulator(plant, seed=0, start_ts=START)
    sim.inject("cooler_fouling", "HX-12", at_s=60.0)
    series = _run(sim, 1800, dt=2.0)
    assert _first_crossing(plant, series, "HX-12", "outlet_temp", "hi") is not None
    assert _first_crossing(plant, series, "HX-12", "inlet_temp", "hi") is not None


def test_an_air_leak_pulls_the_compressor_below_its_low_limit(plant: PlantSpec) -> None:
    sim = PlantSimulator(plant, seed=0, start_ts=START)
    sim.inject("air_leak", "C-3", at_s=60.0)
    series = _run(sim, 900)
    crossing = _first_crossing(plant, series, "C-3", "discharge_pressure", "lo")
    assert crossing is not None and 60 < crossing < 900


def test_a_fault_at_a_wall_clock_time_equals_one_at_seconds(plant: PlantSpec) -> None:
    by_seconds = PlantSimulator(plant, seed=3, start_ts=START)
    by_seconds.inject("cavitation", "P-101", at_s=45.0, severity=0.7)
    by_clock = PlantSimulator(plant, seed=3, start_ts=START)
    by_clock.inject("cavitation", "P-101", datetime.fromtimestamp(START + 45.0, UTC), 0.7)
    assert _run(by_seconds, 200) == _run(by_clock, 200)


def test_bad_injections_are_refused(plant: PlantSpec) -> None:
    sim = PlantSimulator(plant, start_ts=START)
    with pytest.raises(ConfigError, match="unknown fault 'meltdown'"):
        sim.inject("meltdown", "P-101")
    with pytest.raises(ConfigError, match="applies to C-3"):
        sim.inject("air_leak", "P-101")
    with pytest.raises(ConfigError, match="severity"):
        sim.inject("cavitation", "P-101", severity=5.0)
    with pytest.raises(ValueError, match="dt"):
        sim.step(0.0)
    with pytest.raises(ConfigError, match="duty"):
        PlantSimulator(plant, duty="C-3")
    assert set(FAULTS) == {
        "cavitation",
        "bearing_wear",
        "clogging_strainer",
        "cooler_fouling",
        "air_leak",
    }


def test_fault_specs_parse() -> None:
    assert parse_fault_spec("cavitation@P-101+120") == ("cavitation", "P-101", 120.0, 1.0, None)
    assert parse_fault_spec("bearing_wear@P-102=2026-05-04T14:30:00*0.8~900") == (
        "bearing_wear",
        "P-102",
        datetime(2026, 5, 4, 14, 30),
        0.8,
        900.0,
    )
    assert parse_fault_spec("air_leak@C-3") == ("air_leak", "C-3", 0.0, 1.0, None)
    with pytest.raises(ConfigError, match="bad fault spec"):
        parse_fault_spec("cavitation P-101")


def test_only_the_plants_tags_are_emitted() -> None:
    plant = parse_plant(
        {
            "site": "mini",
            "assets": [
                {
                    "id": "C-3",
                    "name": "Compressor",
                    "type": "compressor",
                    "tags": [{"id": "discharge_pressure", "unit": "bar"}, {"id": "humidity"}],
                },
                {"id": "X-1", "name": "Other", "type": "tank", "tags": [{"id": "level"}]},
            ],
        }
    )
    readings = PlantSimulator(plant, start_ts=START).step(1.0)
    assert [(r.asset, r.tag, r.unit) for r in readings] == [("C-3", "discharge_pressure", "bar")]
    nothing = parse_plant(
        {
            "site": "none",
            "assets": [{"id": "X-1", "name": "x", "type": "t", "tags": [{"id": "level"}]}],
        }
    )
    with pytest.raises(ConfigError, match="none of the simulated assets"):
        PlantSimulator(nothing)


def test_run_publisher_publishes_every_tag_in_its_format(plant: PlantSpec) -> None:
    raw = plant.model_dump()
    raw["assets"][0]["tags"][0]["format"] = "number"  # P-101.discharge_pressure
    mixed = parse_plant(raw)
    sim = PlantSimulator(mixed, seed=2)
    tags = sum(len(a.tags) for a in mixed.assets)
    with EmbeddedBroker() as broker:
        subscriber = PahoSubscriber(broker.port, "plant/riverbend/#")
        publisher = PahoPublisher(broker.port)
        try:
            report = run_publisher(sim, mixed, publisher, rate_hz=20.0, duration_s=0.5, speed=30.0)
            got = subscriber.wait_for(10 * tags)
        finally:
            publisher.close()
            subscriber.close()
    assert report.steps == 10 and report.published == 10 * tags == len(got)
    assert report.simulated_s == pytest.approx(15.0)
    assert sim.t == pytest.approx(15.0)
    decoder = Decoder(mixed)
    per_topic: dict[str, list[int | None]] = defaultdict(list)
    for message in got:
        (reading,) = decoder.decode(message.topic, message.payload, time.time())
        per_topic[message.topic].append(reading.seq)
    assert set(per_topic) == set(mixed.routes())
    number_topic = "plant/riverbend/P-101/discharge_pressure"
    assert per_topic.pop(number_topic) == [None] * 10
    assert all(seqs == list(range(10)) for seqs in per_topic.values())
    first = json.loads(next(m.payload for m in got if m.topic.endswith("C-3/oil_temp")))
    assert set(first) == {"value", "ts", "seq"}


def test_run_publisher_stops_on_the_event(plant: PlantSpec) -> None:
    stop = threading.Event()
    sent: list[str] = []

    class CountingPublisher:
        def publish(
            self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
        ) -> None:
            sent.append(topic)
            if len(sent) == 45:
                stop.set()

    sim = PlantSimulator(plant, seed=0, start_ts=START)
    report = run_publisher(
        sim, plant, CountingPublisher(), rate_hz=50.0, duration_s=None, stop_event=stop
    )
    assert report.stopped and report.steps == 3 and report.published == 60
    with pytest.raises(ValueError, match="rate_hz"):
        run_publisher(sim, plant, CountingPublisher(), rate_hz=0.0, duration_s=1.0)
