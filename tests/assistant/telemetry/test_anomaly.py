"""The per-asset anomaly detector, on real pump-rig data (SKAB) and on controlled signals.

SKAB (Skoltech Anomaly Benchmark, GPL-3.0, Katser & Kozitsin 2020) is read from the shared
data folder next to the project; nobody on this project wrote it. Each fault run is replayed
through a real TelemetryStore with the SKAB protocol's warm-up (its first 400 rows); the
anomaly-free run is replayed with the production defaults.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from assistant.domain import Reading, TelemetryEvent
from assistant.plant import AssetSpec, PlantSpec, TagSpec
from assistant.settings import TelemetrySettings
from assistant.telemetry.anomaly import AnomalyDetector
from assistant.telemetry.store import TelemetryStore

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SKAB = (PROJECT_ROOT / ".." / "shared" / "data" / "telemetry" / "skab").resolve()
SKAB_TAGS = (
    "accelerometer1",
    "accelerometer2",
    "current",
    "pressure",
    "temperature",
    "thermocouple",
    "voltage",
    "flow",
)
SKAB_UNITS = ("g", "g", "A", "bar", "°C", "°C", "V", "l/min")
SKAB_PLANT = PlantSpec(
    site="skab",
    assets=(
        AssetSpec(
            id="RIG-1",
            name="SKAB water-pump test rig",
            type="pump",
            tags=tuple(
                TagSpec(id=tag, unit=unit) for tag, unit in zip(SKAB_TAGS, SKAB_UNITS, strict=True)
            ),
        ),
    ),
)


class Run:
    """One SKAB file: timestamps, the eight sensor columns, the anomaly labels."""

    def __init__(self, relative: str) -> None:
        with (SKAB / "data" / relative).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle, delimiter=";"))
        header, body = rows[0], [r for r in rows[1:] if r]
        assert header[:9] == [
            "datetime",
            "Accelerometer1RMS",
            "Accelerometer2RMS",
            "Current",
            "Pressure",
            "Temperature",
            "Thermocouple",
            "Voltage",
            "Volume Flow RateRMS",
        ]
        self.ts = np.array(
            [
                datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
                for r in body
            ]
        )
        self.values = np.array([[float(v) for v in r[1:9]] for r in body])
        labelled = "anomaly" in header
        self.labels = np.array([float(r[9]) == 1.0 for r in body]) if labelled else None

    @property
    def window(self) -> tuple[float, float]:
        """Return the first and last timestamp labelled anomalous."""
        assert self.labels is not None
        flagged = self.ts[self.labels]
        return float(flagged[0]), float(flagged[-1])

    def replay(self, settings: TelemetrySettings) -> tuple[list[TelemetryEvent], TelemetryStore]:
        """Feed every row, tag by tag, through a store; return its anomaly events."""
        clock = [float(self.ts[0])]
        events: list[TelemetryEvent] = []
        store = TelemetryStore(SKAB_PLANT, settings, on_event=events.append, clock=lambda: clock[0])
        for ts, row in zip(self.ts.tolist(), self.values.tolist(), strict=True):
            clock[0] = ts
            store.add_many(
                Reading("RIG-1", tag, value, ts) for tag, value in zip(SKAB_TAGS, row, strict=True)
            )
        return [e for e in events if e.kind == "anomaly"], store


@pytest.mark.parametrize(
    ("relative", "fault", "implicated"),
    [
        ("valve1/3.csv", "valve at the pump inlet closed", "flow"),
        ("valve2/1.csv", "valve at the pump outlet closed", "flow"),
        ("other/12.csv", "tank drained until the pump cavitates", "flow"),
        ("other/5.csv", "rotor imbalance", "accelerometer"),
    ],
)
def test_a_fault_run_raises_inside_its_labelled_window(
    relative: str, fault: str, implicated: str
) -> None:
    run = Run(relative)
    events, store = run.replay(TelemetrySettings(anomaly_warmup_samples=400))
    start, end = run.window
    raised = [e for e in events if e.state == "raised"]
    assert raised, f"{fault}: no anomaly raised"
    assert start <= raised[0].ts <= end, f"{fault}: first raised at {raised[0].ts - start:+.0f} s"
    first = raised[0]
    assert (first.asset, first.tag, first.level) == ("RIG-1", "", "anomaly")
    assert first.value is not None and first.value > 1.0
    assert any(tag.startswith(implicated) for tag, _ in first.values), first.values
    assert first.message.startswith("RIG-1 is unlike its learned normal behaviour")
    states = [e.state for e in events]
    assert states == ["raised", "cleared"] * (len(states) // 2) + ["raised"] * (len(states) % 2)
    assert store.counters()["accepted"] == run.values.size


def test_the_anomaly_free_run_raises_nothing_after_warm_up() -> None:
    run = Run("anomaly-free/anomaly-free.csv")
    settings = TelemetrySettings()
    assert len(run.ts) > 2 * settings.anomaly_warmup_samples
    events, store = run.replay(settings)
    assert events == []
    assert store.counters()["accepted"] == run.values.size


def controlled_asset(periods: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> AssetSpec:
    """Return a three-tag pump with the given sample periods."""
    return AssetSpec(
        id="P-7",
        name="test pump",
        type="pump",
        tags=tuple(
            TagSpec(id=tag, unit=unit, period_s=period)
            for tag, unit, period in zip(
                ("flow", "pressure", "current"), ("m3/h", "bar", "A"), periods, strict=True
            )
        ),
    )


def normal_vector(rng: np.random.Generator) -> np.ndarray:
    """Return one normal (flow, pressure, current) sample with correlated noise."""
    common = rng.normal()
    return np.array([300.0, 4.0, 90.0]) + np.array([3.0, 0.05, 1.0]) * (
        0.7 * common + 0.7 * rng.normal(size=3)
    )


def test_one_event_pair_for_a_long_fault_which_is_never_learned_as_normal() -> None:
    rng = np.random.default_rng(3)
    settings = TelemetrySettings(anomaly_warmup_samples=600, anomaly_baseline_s=300.0)
    detector = AnomalyDetector(controlled_asset(), settings)
    events: list[TelemetryEvent] = []
    phases: dict[int, str] = {}
    for second in range(8000):
        x = normal_vector(rng)
        if 2000 <= second < 5000:  # 3000 s, ten baseline time constants
            x[0] -= 12.0  # flow down about 3 noise widths
        for i, tag in enumerate(detector.tags):
            event = detector.observe(tag, float(x[i]), second + 0.1 * i)
            if event is not None:
                events.append(event)
        phases[second] = detector.phase
    assert [e.state for e in events] == ["raised", "cleared"]
    assert 2000 <= events[0].ts < 2060
    assert 5000 <= events[1].ts < 5120
    assert all(phases[s] == "anomalous" for s in range(2100, 5000))
    assert events[0].values[0][0] == "flow"
    match = re.search(r"flow ([0-9.]+) m3/h \(normal about ([0-9.]+) m3/h\)", events[0].message)
    assert match is not None, events[0].message
    assert float(match[1]) < 295.0
    assert float(match[2]) == pytest.approx(300.0, abs=1.5)
    assert events[1].message.startswith("P-7 is back to its learned normal behaviour")
    assert detector.normal_level()["flow"] == pytest.approx(300.0, abs=1.5)


def drift_run(baseline_s: float) -> tuple[AnomalyDetector, list[TelemetryEvent]]:
    """Run two hours of normal data with current drifting upward; return the detector and events."""
    rng = np.random.default_rng(4)
    settings = TelemetrySettings(anomaly_warmup_samples=600, anomaly_baseline_s=baseline_s)
    detector = AnomalyDetector(controlled_asset(), settings)
    events: list[TelemetryEvent] = []
    for second in range(8000):
        x = normal_vector(rng)
        x[2] += max(0, second - 600) * 1.0 / 3600  # current +1 A an hour, two noise widths in all
        for i, tag in enumerate(detector.tags):
            event = detector.observe(tag, float(x[i]), float(second))
            if event is not None:
                events.append(event)
    return detector, events


def test_slow_drift_is_followed_not_alarmed() -> None:
    detector, events = drift_run(baseline_s=600.0)
    assert events == []
    assert detector.phase == "watching"
    assert detector.normal_level()["current"] == pytest.approx(90.0 + 7400 / 3600, abs=0.3)
    frozen, events = drift_run(baseline_s=604_800.0)  # a baseline that does not follow
    assert [e.state for e in events][:1] == ["raised"]
    assert frozen.normal_level()["current"] == pytest.approx(90.0, abs=0.2)


def test_tags_arriving_at_different_instants_and_a_slow_or_silent_tag() -> None:
    rng = np.random.default_rng(5)
    detector = AnomalyDetector(
        controlled_asset((1.0, 1.0, 5.0)), TelemetrySettings(anomaly_warmup_samples=50)
    )
    assert detector.progress == 0.0 and detector.ratio is None
    for second in range(1000):
        x = normal_vector(rng)
        detector.observe("flow", float(x[0]), second + 0.3)
        detector.observe("pressure", float(x[1]), second + 0.6)
        if second % 5 == 0:
            detector.observe("current", float(x[2]), second + 0.9)
    assert detector.steps == 200  # one step per full vector, at the slow tag's cadence
    assert detector.phase == "watching" and detector.progress == 1.0
    for second in range(1000, 1100):  # current falls silent
        x = normal_vector(rng)
        detector.observe("flow", float(x[0]), second + 0.3)
        detector.observe("pressure", float(x[1]), second + 0.6)
    # Then one step per cadence (5 s) while current's last value is fresh (5 periods, 25 s):
    # at 1001.3, 1006.3, 1011.3 and 1016.3; at 1021.3 it is 25.4 s old, and nothing follows.
    assert detector.steps == 204
    assert detector.observe("torque", 1.0, 2000.0) is None
    assert detector.observe("flow", float("nan"), 2000.0) is None


def test_learning_phase_reports_no_score() -> None:
    detector = AnomalyDetector(controlled_asset(), TelemetrySettings(anomaly_warmup_samples=30))
    assert detector.ratio is None
    assert detector.normal_level() == {}
    rng = np.random.default_rng(6)
    for second in range(40):
        for i, tag in enumerate(detector.tags):
            detector.observe(tag, float(normal_vector(rng)[i]), float(second))
    assert detector.ratio is not None and detector.ratio < 1.0
    assert detector.threshold > 0
