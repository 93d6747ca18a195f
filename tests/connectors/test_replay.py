"""Historian replay through a real broker: pacing, rebasing, stopping, refusals."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest

from assistant.domain import Reading
from assistant.errors import ConfigError
from assistant.plant import PlantSpec
from connectors.codec import Decoder, PayloadError
from connectors.embedded_broker import EmbeddedBroker
from connectors.historian import bundled_map, load_historian_csv, parse_column_map
from connectors.replay import replay
from tests.connectors.conftest import VALVE1_1, write_export
from tests.connectors.test_embedded_broker import PahoPublisher, PahoSubscriber

# -- replay through a real broker --------------------------------------------------------------


def _decode_all(plant: PlantSpec, got: list[bytes], topics: list[str]) -> list[Reading]:
    decoder = Decoder(plant)
    now = time.time()
    readings: list[Reading] = []
    for topic, payload in zip(topics, got, strict=True):
        readings.extend(decoder.decode(topic, payload, now))
    return readings


def test_replay_at_speed_zero_delivers_every_message_in_order(skab_plant: PlantSpec) -> None:
    data = load_historian_csv(VALVE1_1, None, bundled_map("skab"), skab_plant)
    with EmbeddedBroker() as broker:
        subscriber = PahoSubscriber(broker.port, "plant/skab/#")
        publisher = PahoPublisher(broker.port)
        try:
            before = time.time()
            report = replay(data.readings, skab_plant, publisher, speed=0)
            got = subscriber.wait_for(len(data.readings), timeout=60)
        finally:
            publisher.close()
            subscriber.close()
    assert report.published == len(data.readings) == len(got) and not report.stopped
    assert report.steps == 1145
    decoded = _decode_all(skab_plant, [m.payload for m in got], [m.topic for m in got])
    assert [(r.tag, r.value) for r in decoded] == [(r.tag, r.value) for r in data.readings]
    per_topic: dict[str, list[int | None]] = defaultdict(list)
    for reading, message in zip(decoded, got, strict=True):
        per_topic[message.topic].append(reading.seq)
    assert len(per_topic) == 8
    assert all(seqs == list(range(1145)) for seqs in per_topic.values())
    # history is moved to end at the start of the replay, spacing kept
    assert decoded[-1].ts == pytest.approx(report.origin_ts, abs=0.002)
    assert before <= report.origin_ts <= time.time()
    assert decoded[-1].ts - decoded[0].ts == pytest.approx(1200.0, abs=0.002)
    assert report.published_ts(data.readings[0].ts) == pytest.approx(decoded[0].ts, abs=0.002)


def test_without_rebase_old_history_is_refused_by_the_decoder(
    tmp_path: Path, small_plant: PlantSpec
) -> None:
    path = write_export(tmp_path / "old.csv", "time,flow\n2020-01-01 00:00:00,300\n")
    data = load_historian_csv(path, "PU-1", None, small_plant)
    with EmbeddedBroker() as broker:
        subscriber = PahoSubscriber(broker.port, "plant/#")
        publisher = PahoPublisher(broker.port)
        try:
            replay(data.readings, small_plant, publisher, speed=0, rebase_to_now=False)
            replay(data.readings, small_plant, publisher, speed=0)
            got = subscriber.wait_for(2)
        finally:
            publisher.close()
            subscriber.close()
    decoder = Decoder(small_plant)
    with pytest.raises(PayloadError) as caught:
        decoder.decode(got[0].topic, got[0].payload, time.time())
    assert caught.value.reason == "stale_timestamp"
    assert decoder.decode(got[1].topic, got[1].payload, time.time())[0].value == 300.0


def test_replay_at_speed_ten_scales_the_spacing(tmp_path: Path, small_plant: PlantSpec) -> None:
    offsets = [0, 1, 2, 5, 6, 10]  # seconds in the export
    rows = "".join(f"{1700000000 + o},{300 + i},{80 + i}\n" for i, o in enumerate(offsets))
    path = write_export(tmp_path / "short.csv", "timestamp,flow,motor_current\n" + rows)
    data = load_historian_csv(path, "PU-1", None, small_plant)
    with EmbeddedBroker() as broker:
        subscriber = PahoSubscriber(broker.port, "plant/test/PU-1/#")
        publisher = PahoPublisher(broker.port)
        try:
            report = replay(data.readings, small_plant, publisher, speed=10.0)
            got = subscriber.wait_for(12)
        finally:
            publisher.close()
            subscriber.close()
    assert report.published == 12 and report.steps == 6 and report.time_factor == 0.1
    # the replay never runs ahead of the scaled schedule (10 s of history at 10x = 1.0 s)
    assert report.elapsed_s >= 1.0
    flows = [m for m in got if m.topic.endswith("/flow")]
    currents = [m for m in got if m.topic.endswith("/motor_current")]
    assert [json.loads(m.payload)["value"] for m in flows] == [300 + i for i in range(6)]
    assert [float(m.payload) for m in currents] == [80.0 + i for i in range(6)]
    stamps = [json.loads(m.payload)["ts"] for m in flows]
    gaps = [b - a for a, b in pairwise(stamps)]
    assert gaps == pytest.approx([0.1, 0.1, 0.3, 0.1, 0.4], abs=0.002)
    arrivals = [m.arrived for m in got]
    assert arrivals == sorted(arrivals)


def test_stop_event_ends_a_replay(tmp_path: Path, small_plant: PlantSpec) -> None:
    rows = "".join(f"{1700000000 + i},{300 + i}\n" for i in range(100))
    path = write_export(tmp_path / "long.csv", "timestamp,flow\n" + rows)
    data = load_historian_csv(path, "PU-1", None, small_plant)
    stop = threading.Event()
    sent: list[str] = []

    class StoppingPublisher:
        def publish(
            self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
        ) -> None:
            sent.append(topic)
            if len(sent) == 3:
                stop.set()

    report = replay(data.readings, small_plant, StoppingPublisher(), speed=50.0, stop_event=stop)
    assert report.stopped and report.published == 3 == len(sent)


def test_replay_refuses_bad_input(small_plant: PlantSpec) -> None:
    class NullPublisher:
        def publish(
            self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
        ) -> None:
            raise AssertionError("nothing may be published")

    stray = [Reading("PU-1", "flow", 1.0, 1.0), Reading("PU-9", "flow", 1.0, 2.0)]
    with pytest.raises(ConfigError, match=r"PU-9\.flow"):
        replay(stray, small_plant, NullPublisher(), speed=0)
    with pytest.raises(ValueError, match="speed"):
        replay([], small_plant, NullPublisher(), speed=-1)
    empty = replay([], small_plant, NullPublisher(), speed=math.inf)
    assert empty.published == 0 and empty.steps == 0


def test_a_cp1252_export_replays(tmp_path: Path, small_plant: PlantSpec) -> None:
    """A Windows export with "°C" in a unit column (one byte, 0xB0) reaches the broker."""
    path = tmp_path / "excel.csv"
    path.write_bytes(
        (
            "Zeitstempel;flow;pressure;Einheit\n"
            "01.07.2024 12:00:00;310,5;4,25;°C\n"
            "01.07.2024 12:00:10;311,0;4,30;°C\n"
        ).encode("cp1252")
    )
    assert b"\xb0C" in path.read_bytes()
    data = load_historian_csv(
        path, "PU-1", parse_column_map({"ignore": ["Einheit"], "columns": {}}), small_plant
    )
    assert data.ignored == ("Einheit",)
    with EmbeddedBroker() as broker:
        subscriber = PahoSubscriber(broker.port, "plant/#")
        publisher = PahoPublisher(broker.port)
        try:
            report = replay(data.readings, small_plant, publisher, speed=0)
            got = subscriber.wait_for(4)
        finally:
            publisher.close()
            subscriber.close()
    assert report.published == 4 and report.steps == 2
    decoded = _decode_all(small_plant, [m.payload for m in got], [m.topic for m in got])
    assert [(r.tag, r.value) for r in decoded] == [
        ("flow", 310.5),
        ("pressure", 4.25),
        ("flow", 311.0),
        ("pressure", 4.3),
    ]
