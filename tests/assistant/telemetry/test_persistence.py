"""Telemetry across restarts: snapshots, the reading log, a killed writer, alarm reconciling."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from assistant.db import Database
from assistant.domain import Reading, TelemetryEvent
from assistant.plant import PlantSpec
from assistant.settings import TelemetrySettings
from assistant.telemetry.anomaly import AnomalyDetector
from assistant.telemetry.buffer import RingBuffer
from assistant.telemetry.history import AlarmHistory
from assistant.telemetry.live import LiveTelemetry
from assistant.telemetry.persistence import FolderBusy, TelemetryPersistence
from assistant.telemetry.reading_log import segment_numbers
from assistant.telemetry.snapshot import (
    FORMAT_VERSION,
    SnapshotError,
    decode_snapshot,
    encode_snapshot,
    read_snapshot,
)
from assistant.telemetry.store import TelemetryStore
from tests.assistant.telemetry.conftest import SAMPLE_PLANT, T0, FakeClock

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """Open a fresh journal and close it after the test."""
    database = Database(tmp_path / "journal.sqlite3")
    yield database
    database.close()


def make_store(
    plant: PlantSpec, clock: FakeClock, history: AlarmHistory | None = None, **settings: float
) -> TelemetryStore:
    """Build a store on a fake clock that records its events in ``history``."""
    values = {"anomaly": False, **settings}
    return TelemetryStore(
        plant,
        TelemetrySettings.model_validate(values),
        on_event=history.record if history is not None else None,
        clock=clock,
    )


def persistence(folder: Path) -> TelemetryPersistence:
    """Return a persistence on ``folder`` with a long interval (tests snapshot by hand)."""
    return TelemetryPersistence(folder, interval_s=3600)


def feed(store: TelemetryStore, clock: FakeClock, tag: str, values: list[float], t: float) -> None:
    """Add one reading a second of P-101's ``tag``, the pump running."""
    for i, value in enumerate(values):
        clock.now = t + i
        store.add_many(
            [
                Reading("P-101", "motor_current", 90.0, t + i),
                Reading("P-101", tag, value, t + i),
            ]
        )


# -- the pieces --------------------------------------------------------------------------------


def test_ring_buffer_load_keeps_the_newest_within_capacity_and_retention() -> None:
    buffer = RingBuffer(capacity=100, retention_s=50)
    ts = np.arange(200, dtype=np.float64)
    buffer.load(ts, ts * 2)
    kept, values = buffer.samples()
    assert kept.tolist() == list(range(149, 200))  # retention: 50 s behind the newest
    assert values.tolist() == [2.0 * t for t in range(149, 200)]
    assert buffer.append(200.0, 1.0) and not buffer.append(150.0, 1.0)
    small = RingBuffer(capacity=10, retention_s=1e9)
    small.load(ts, ts)
    assert small.samples()[0].tolist() == list(range(190, 200))
    with pytest.raises(ValueError, match="strictly increasing"):
        small.load(np.array([1.0, 1.0]), np.array([1.0, 2.0]))


def test_a_restored_detector_scores_exactly_as_the_one_that_kept_running(
    plant: PlantSpec,
) -> None:
    asset = plant.assets[0]
    settings = TelemetrySettings(anomaly_warmup_samples=40)
    rng = np.random.default_rng(3)
    rows = rng.normal(5.0, 0.1, (200, len(asset.tags)))
    running = AnomalyDetector(asset, settings)

    def step(detector: AnomalyDetector, k: int) -> None:
        for tag, value in zip(asset.tags, rows[k], strict=True):
            detector.observe(tag.id, float(value), T0 + k)

    for k in range(60):  # past the warm-up: learned state to carry over
        step(running, k)
    restored = AnomalyDetector(asset, settings)
    restored.load(*running.export())
    for k in range(60, 200):
        step(running, k)
        step(restored, k)
    assert restored.phase == running.phase == "watching"
    assert restored.score == running.score and restored.steps == running.steps
    other = next(a for a in plant.assets if [t.id for t in a.tags] != [t.id for t in asset.tags])
    with pytest.raises(ValueError, match="other tags"):
        AnomalyDetector(other, settings).load(*running.export())


def test_snapshot_round_trip_restores_windows_alarms_and_event_ids(
    plant: PlantSpec, tmp_path: Path
) -> None:
    clock = FakeClock()
    store = make_store(plant, clock)
    feed(store, clock, "discharge_pressure", [4.2, 4.3, 5.2, 5.3], T0)  # hi raised at 5.2
    state, _ = store.export_state(lambda: None)
    data = encode_snapshot(state, first_segment=7)
    loaded, first = decode_snapshot(data)
    assert first == 7 and loaded.samples == state.samples == 8
    again = make_store(plant, FakeClock(T0 + 100))
    assert again.import_state(loaded) == 8
    assert again.window("P-101", "discharge_pressure", 1e9) == store.window(
        "P-101", "discharge_pressure", 1e9
    )
    assert [e.id for e in again.active_events()] == [e.id for e in store.active_events()]
    assert again.status("P-101", "discharge_pressure").state == "hi"
    assert again.running("P-101") is True


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not a readable snapshot"),
        (b"PK\x03\x04 not really a zip", "not a readable snapshot"),
        (None, f"this Shiftmate reads version {FORMAT_VERSION}"),
    ],
)
def test_a_corrupt_or_foreign_snapshot_is_reported_and_start_up_goes_on(
    plant: PlantSpec,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    content: bytes | None,
    problem: str,
) -> None:
    folder = tmp_path / "telemetry"
    folder.mkdir()
    if content is None:  # a snapshot of another format version
        clock = FakeClock()
        state, _ = make_store(plant, clock).export_state(lambda: None)
        with np.load(io.BytesIO(encode_snapshot(state, 1))) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = {**json.loads(arrays["meta"].tobytes()), "version": 99}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        out = io.BytesIO()
        np.savez(out, **arrays)
        content = out.getvalue()
        with pytest.raises(SnapshotError, match="format version 99"):
            decode_snapshot(content)
    (folder / "snapshot.npz").write_bytes(content)
    caplog.set_level(logging.WARNING, logger="assistant.telemetry")
    store = make_store(plant, FakeClock())
    keeper = persistence(folder)
    report = keeper.open(store, None)
    try:
        assert report.samples == 0 and report.problem is not None and problem in report.problem
        assert "snapshot" in caplog.text and problem in caplog.text
        store.add(Reading("P-101", "flow", 300.0, T0))
        keeper.snapshot()  # the bad file is replaced by a good one
        assert read_snapshot(folder / "snapshot.npz") is not None
    finally:
        keeper.close()


def test_a_snapshot_write_is_atomic_and_drops_the_log_it_covers(
    plant: PlantSpec, tmp_path: Path
) -> None:
    folder = tmp_path / "telemetry"
    clock = FakeClock()
    store = make_store(plant, clock)
    keeper = persistence(folder)
    keeper.open(store, None)
    try:
        feed(store, clock, "flow", [300.0, 301.0], T0)
        assert segment_numbers(folder) == [1]
        report = keeper.snapshot()
        assert report.bytes == (folder / "snapshot.npz").stat().st_size
        assert report.samples == 4 and report.capture_s <= report.seconds
        assert segment_numbers(folder) == [2]  # segment 1 is in the snapshot
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    finally:
        keeper.close()


def test_a_second_process_on_the_same_folder_is_refused_and_runs_in_memory(
    plant: PlantSpec, tmp_path: Path, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "telemetry"
    first = persistence(folder)
    first.open(make_store(plant, FakeClock()), None)
    try:
        with pytest.raises(FolderBusy, match="in use by another Shiftmate process"):
            persistence(folder).open(make_store(plant, FakeClock()), None)
        caplog.set_level(logging.WARNING, logger="assistant.telemetry")
        live = LiveTelemetry(make_store(plant, FakeClock()), AlarmHistory(db))
        live.start(None, persistence(folder))
        live.stop()
        assert live.persistence is None and "in memory only" in caplog.text
    finally:
        first.close()


# -- a killed process loses nothing it took in ---------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from assistant.domain import Reading
    from assistant.plant import load_plant
    from assistant.settings import TelemetrySettings
    from assistant.telemetry.persistence import TelemetryPersistence
    from assistant.telemetry.store import TelemetryStore

    plant = load_plant(Path(sys.argv[1]))
    store = TelemetryStore(plant, TelemetrySettings(anomaly=False))
    keeper = TelemetryPersistence(Path(sys.argv[2]), interval_s=3600)
    keeper.open(store, None)
    t0 = float(sys.argv[3])
    for i in range(300):
        store.add_many([Reading("P-101", "flow", 300.0 + i, t0 + i)])
        if i == 149:
            keeper.snapshot()
    print("stored", flush=True)
    time.sleep(60)
    """
)


def test_readings_taken_in_before_a_sigkill_are_all_restored(
    plant: PlantSpec, tmp_path: Path
) -> None:
    folder = tmp_path / "telemetry"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(SAMPLE_PLANT), str(folder), str(T0)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "stored"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
    # What a crash mid-write leaves: a torn record at the end of the log.
    segment = folder / f"readings-{segment_numbers(folder)[-1]:08d}.log"
    with segment.open("ab") as torn:
        torn.write(b"MSRL\x05\x00")
    store = make_store(plant, FakeClock(T0 + 400))
    keeper = persistence(folder)
    report = keeper.open(store, None)
    try:
        assert (report.samples, report.replayed) == (150, 150)
        window = store.window("P-101", "flow", 1e9)
        assert [ts for ts, _ in window] == [T0 + i for i in range(300)]
        assert [v for _, v in window] == [300.0 + i for i in range(300)]
    finally:
        keeper.close()


# -- alarms left raised by a crash ---------------------------------------------------------------


def stopped_with_hi_raised(
    plant: PlantSpec, folder: Path, history: AlarmHistory, keep_state: bool
) -> TelemetryEvent:
    """Run a store until P-101's discharge pressure hi alarm is raised, then stop.

    The journal shows the alarm raised, as after a crash; without ``keep_state`` the
    snapshot and the log are deleted, so the restored store knows nothing of it.
    """
    clock = FakeClock()
    store = make_store(plant, clock, history)
    keeper = persistence(folder)
    keeper.open(store, history)
    feed(store, clock, "discharge_pressure", [4.2, 5.2], T0)
    keeper.close()
    if not keep_state:
        for path in [folder / "snapshot.npz", *folder.glob("readings-*.log")]:
            path.unlink()
    (raised,) = [e for e in history.open_events() if e.level == "hi"]
    return raised


def test_an_alarm_still_true_after_the_restart_keeps_its_event(
    plant: PlantSpec, tmp_path: Path, db: Database
) -> None:
    history = AlarmHistory(db)
    raised = stopped_with_hi_raised(plant, tmp_path / "t", history, keep_state=True)
    clock = FakeClock(T0 + 60)
    store = make_store(plant, clock, history)
    keeper = persistence(tmp_path / "t")
    report = keeper.open(store, history)
    try:
        assert report.reconciled == 0
        assert [e.id for e in store.active_events()] == [raised.id]
        feed(store, clock, "discharge_pressure", [5.3], T0 + 60)  # still above hi
        assert [e.id for e in history.open_events()] == [raised.id]
        feed(store, clock, "discharge_pressure", [4.0], T0 + 61)  # the ordinary clear
        assert history.open_events() == []
        assert "back below hi limit" in history.recent(1)[0].message
    finally:
        keeper.close()


def test_an_alarm_no_longer_true_on_the_first_reading_is_cleared_with_the_reason(
    plant: PlantSpec, tmp_path: Path, db: Database
) -> None:
    history = AlarmHistory(db)
    raised = stopped_with_hi_raised(plant, tmp_path / "t", history, keep_state=False)
    clock = FakeClock(T0 + 60)
    store = make_store(plant, clock, history)
    keeper = persistence(tmp_path / "t")
    keeper.open(store, history)
    try:
        assert [e.id for e in history.open_events()] == [raised.id]  # undecided yet
        assert [e.id for e in store.active_events("P-101")] == [raised.id]
        feed(store, clock, "discharge_pressure", [4.1], T0 + 60)
        assert history.open_events() == [] and store.active_events() == []
        cleared = history.recent(1)[0]
        assert (cleared.level, cleared.state, cleared.value) == ("hi", "cleared", 4.1)
        assert cleared.message == (
            "P-101 discharge_pressure hi alarm cleared after restart: "
            "value back within limits, 4.1 bar"
        )
    finally:
        keeper.close()


def test_an_alarm_of_a_silent_tag_is_cleared_at_the_stale_timeout(
    plant: PlantSpec, tmp_path: Path, db: Database
) -> None:
    history = AlarmHistory(db)
    stopped_with_hi_raised(plant, tmp_path / "t", history, keep_state=False)
    clock = FakeClock(T0 + 60)
    store = make_store(plant, clock, history)
    keeper = persistence(tmp_path / "t")
    keeper.open(store, history)
    try:
        stale_after = 5 * plant.assets[0].tags[0].period_s
        assert store.check_stale(T0 + 60 + stale_after / 2) == []
        (cleared,) = store.check_stale(T0 + 61 + stale_after)
        assert store.active_events() == []
        assert cleared.message.endswith("cleared after restart: no data since the restart")
        assert history.open_events() == []
    finally:
        keeper.close()


def test_an_anomaly_the_restored_detector_does_not_hold_is_cleared_at_once(
    plant: PlantSpec, tmp_path: Path, db: Database
) -> None:
    history = AlarmHistory(db)
    history.record(
        TelemetryEvent(
            id="anomaly00001",
            asset="C-3",
            tag="",
            kind="anomaly",
            level="anomaly",
            state="raised",
            ts=T0,
            value=1.5,
            message="C-3 is unlike its learned normal behaviour",
        )
    )
    store = make_store(plant, FakeClock(T0 + 60), history, anomaly=True)
    keeper = persistence(tmp_path / "t")
    report = keeper.open(store, history)
    try:
        assert report.reconciled == 1
        assert history.open_events() == []
        assert history.recent(1)[0].message == (
            "C-3 anomaly cleared after restart: the anomaly detector is learning again"
        )
    finally:
        keeper.close()


def test_snapshot_interval_is_validated() -> None:
    with pytest.raises(ValidationError, match="snapshot_interval_s"):
        TelemetrySettings(snapshot_interval_s=1)
    assert TelemetrySettings().snapshot_interval_s == 300
