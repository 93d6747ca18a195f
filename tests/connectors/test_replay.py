"""Historian replay: real SKAB files, hand-made exports, and replays through a real broker."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from assistant.domain import Reading
from assistant.errors import ConfigError, ConnectorError
from assistant.plant import PlantSpec, parse_plant
from connectors.codec import Decoder, PayloadError
from connectors.embedded_broker import EmbeddedBroker
from connectors.replay import (
    ColumnMap,
    bundled_map,
    bundled_plant,
    detect_separator,
    load_column_map,
    load_historian_csv,
    normalise_column,
    parse_column_map,
    replay,
)
from tests.connectors.test_embedded_broker import PahoPublisher, PahoSubscriber

SKAB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "telemetry" / "skab"
VALVE1_1 = SKAB / "data" / "valve1" / "1.csv"
ANOMALY_FREE = SKAB / "data" / "anomaly-free" / "anomaly-free.csv"
SKAB_TAGS = {
    "vibration_1",
    "vibration_2",
    "motor_current",
    "discharge_pressure",
    "motor_temp",
    "fluid_temp",
    "motor_voltage",
    "flow",
}


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def skab_plant() -> PlantSpec:
    """Return the bundled plant with the SKAB-PUMP asset."""
    return bundled_plant("skab_plant")


@pytest.fixture(scope="module")
def small_plant() -> PlantSpec:
    """Return a plant with one asset whose tag ids match plain column names."""
    return parse_plant(
        {
            "site": "test",
            "assets": [
                {
                    "id": "PU-1",
                    "name": "Test pump",
                    "type": "pump",
                    "tags": [
                        {"id": "flow", "unit": "m3/h"},
                        {"id": "motor_current", "unit": "A", "format": "number"},
                        {"id": "pressure", "unit": "bar"},
                    ],
                }
            ],
        }
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- loading SKAB as it is ---------------------------------------------------------------------


def test_skab_valve1_loads_with_the_bundled_map(skab_plant: PlantSpec) -> None:
    data = load_historian_csv(VALVE1_1, None, bundled_map("skab"), skab_plant)
    assert data.separator == ";"
    assert data.timestamp_column == "datetime"
    assert data.asset == "SKAB-PUMP"
    assert data.rows == 1145 and data.skipped_count == 0 and data.out_of_order == 0
    assert {tag for _, tag in data.mapped} == SKAB_TAGS
    assert data.unmapped == ()
    assert data.ignored == ("anomaly", "changepoint")
    assert len(data.readings) == 1145 * 8
    assert {r.tag for r in data.readings} == SKAB_TAGS
    first, last = data.readings[0], data.readings[-1]
    assert first.ts == _utc("2020-03-09 10:34:33")
    assert last.ts == _utc("2020-03-09 10:54:33")
    assert (first.tag, first.value, first.unit) == ("vibration_1", 0.0270797, "g")
    assert (last.tag, last.value, last.unit) == ("flow", 31.999, "L/min")
    times = sorted({r.ts for r in data.readings})
    assert len(times) == 1145
    assert all(b > a for a, b in pairwise(times))


def test_skab_label_columns_are_reported_unless_ignored(skab_plant: PlantSpec) -> None:
    skab = bundled_map("skab")
    no_ignore = ColumnMap(columns=skab.columns, asset="SKAB-PUMP")
    data = load_historian_csv(VALVE1_1, None, no_ignore, skab_plant)
    assert data.unmapped == ("anomaly", "changepoint")
    assert data.ignored == ()
    assert {r.tag for r in data.readings} == SKAB_TAGS


def test_without_a_map_columns_match_tags_by_normalised_name() -> None:
    data = load_historian_csv(
        VALVE1_1,
        "PU-1",
        None,
        parse_plant(
            {
                "site": "t",
                "assets": [
                    {
                        "id": "PU-1",
                        "name": "p",
                        "type": "pump",
                        "tags": [
                            {"id": "current"},
                            {"id": "pressure"},
                            {"id": "volume_flow_raterms"},
                        ],
                    }
                ],
            }
        ),
    )
    assert data.mapped == (
        ("Current", "current"),
        ("Pressure", "pressure"),
        ("Volume Flow RateRMS", "volume_flow_raterms"),
    )
    assert data.unmapped == (
        "Accelerometer1RMS",
        "Accelerometer2RMS",
        "Temperature",
        "Thermocouple",
        "Voltage",
        "anomaly",
        "changepoint",
    )
    assert len(data.readings) == 1145 * 3
    with pytest.raises(ConnectorError, match="no column maps to a tag of SKAB-PUMP"):
        load_historian_csv(VALVE1_1, "SKAB-PUMP", None, bundled_plant("skab_plant"))


def test_skab_plant_normal_ranges_hold_the_anomaly_free_file(skab_plant: PlantSpec) -> None:
    data = load_historian_csv(ANOMALY_FREE, None, bundled_map("skab"), skab_plant)
    assert data.rows == 9405 and data.skipped_count == 0
    assert data.missing == () and data.ignored == ()
    by_tag: dict[str, list[float]] = defaultdict(list)
    for reading in data.readings:
        by_tag[reading.tag].append(reading.value)
    asset = skab_plant.asset("SKAB-PUMP")
    assert asset is not None and {t.id for t in asset.tags} == SKAB_TAGS
    for tag in asset.tags:
        assert tag.normal is not None and tag.unit
        low, high = tag.normal
        values = by_tag[tag.id]
        inside = sum(low <= v <= high for v in values) / len(values)
        assert inside >= 0.99, (tag.id, inside)
        assert low <= sum(values) / len(values) <= high


# -- hand-made exports -------------------------------------------------------------------------


def test_comma_separated_file_with_epoch_seconds(tmp_path: Path, small_plant: PlantSpec) -> None:
    path = _write(
        tmp_path / "export.csv",
        "Timestamp,Flow,Motor Current,Spare\n"
        "1700000000,301.5,88.1,x\n"
        "1700000001,302.0,88.3,y\n"
        "1700000002,,88.2,z\n",
    )
    data = load_historian_csv(path, "PU-1", None, small_plant)
    assert data.separator == "," and data.timestamp_column == "Timestamp"
    assert data.mapped == (("Flow", "flow"), ("Motor Current", "motor_current"))
    assert data.unmapped == ("Spare",)
    assert data.missing_values == 1 and data.skipped_count == 0
    assert data.readings == (
        Reading("PU-1", "flow", 301.5, 1700000000.0, "m3/h"),
        Reading("PU-1", "motor_current", 88.1, 1700000000.0, "A"),
        Reading("PU-1", "flow", 302.0, 1700000001.0, "m3/h"),
        Reading("PU-1", "motor_current", 88.3, 1700000001.0, "A"),
        Reading("PU-1", "motor_current", 88.2, 1700000002.0, "A"),
    )


def test_tab_separated_file_with_iso_times_and_a_bad_row(
    tmp_path: Path, small_plant: PlantSpec
) -> None:
    path = _write(
        tmp_path / "export.txt",
        "time\tflow\tpressure\n"
        "2024-05-01T10:00:00Z\t300\t4.1\n"
        "2024-05-01T10:00:01+00:00\tBad\t4.2\n"
        "2024-05-01T10:00:02Z\t301\tnan\n"
        "not a time\t302\t4.3\n"
        "2024-05-01T10:00:04Z\t303\n"
        "2024-05-01T10:00:05Z\t304\t4.4\n",
    )
    data = load_historian_csv(path, "PU-1", None, small_plant)
    assert data.separator == "\t"
    assert data.rows == 6 and data.skipped_count == 4
    assert [(s.line, s.reason.split(" ")[0:2]) for s in data.skipped] == [
        (3, ["bad", "value"]),
        (4, ["bad", "value"]),
        (5, ["bad", "timestamp"]),
        (6, ["has", "2"]),
    ]
    assert "'Bad'" in data.skipped[0].reason and "'flow'" in data.skipped[0].reason
    assert [(r.tag, r.value, r.ts) for r in data.readings] == [
        ("flow", 300.0, _utc("2024-05-01 10:00:00")),
        ("pressure", 4.1, _utc("2024-05-01 10:00:00")),
        ("flow", 304.0, _utc("2024-05-01 10:00:05")),
        ("pressure", 4.4, _utc("2024-05-01 10:00:05")),
    ]


def test_pipe_separated_file_with_decimal_commas_and_local_times(
    tmp_path: Path, small_plant: PlantSpec
) -> None:
    path = _write(
        tmp_path / "export.csv",
        "Zeitstempel|flow|pressure\n"
        "01.07.2024 12:00:00|310,5|4,25\n"
        "01.07.2024 12:00:10|311,0|4,30\n",
    )
    mapping = parse_column_map({"timezone": "Europe/Berlin", "columns": {}})
    data = load_historian_csv(path, "PU-1", mapping, small_plant)
    assert data.separator == "|" and data.timestamp_column == "Zeitstempel"
    berlin = datetime(2024, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    assert [(r.tag, r.value, r.ts) for r in data.readings] == [
        ("flow", 310.5, berlin),
        ("pressure", 4.25, berlin),
        ("flow", 311.0, berlin + 10),
        ("pressure", 4.3, berlin + 10),
    ]
    assert berlin == _utc("2024-07-01 10:00:00")


def test_epoch_milliseconds_found_by_content_and_rows_sorted(
    tmp_path: Path, small_plant: PlantSpec
) -> None:
    path = _write(
        tmp_path / "export.csv",
        "flow;t_ms_since_epoch\n300;1700000002000\n301;1700000000000\n302;1700000001500\n",
    )
    data = load_historian_csv(path, "PU-1", None, small_plant)
    assert data.timestamp_column == "t_ms_since_epoch"
    assert data.out_of_order == 2  # rows earlier than the latest time seen before them
    assert [(r.value, r.ts) for r in data.readings] == [
        (301.0, 1700000000.0),
        (302.0, 1700000001.5),
        (300.0, 1700000002.0),
    ]


def test_separator_detection() -> None:
    assert detect_separator(["a;b;c", "1,5;2;3"]) == ";"
    assert detect_separator(["a,b,c", "1,2,3"]) == ","
    assert detect_separator(["a\tb", "1\t2"]) == "\t"
    assert detect_separator(["a|b", "1|2"]) == "|"
    with pytest.raises(ConnectorError, match="separator"):
        detect_separator(["just one column", "1"])
    assert normalise_column(" Volume Flow RateRMS ") == "volume_flow_raterms"


def test_map_files_in_toml_and_json(tmp_path: Path, small_plant: PlantSpec) -> None:
    path = _write(tmp_path / "plant.csv", "ts;FT-1 PV;MTR AMPS;alarm\n1700000000;300;88;0\n")
    toml_map = _write(
        tmp_path / "map.toml",
        'asset = "PU-1"\nignore = ["alarm"]\n[columns]\n"FT-1 PV" = "flow"\n"MTR AMPS" = '
        '"motor_current"\n"Not There" = "pressure"\n',
    )
    json_map = _write(tmp_path / "map.json", json.dumps({"FT-1 PV": "flow"}))
    from_toml = load_historian_csv(path, None, load_column_map(toml_map), small_plant)
    assert from_toml.mapped == (("FT-1 PV", "flow"), ("MTR AMPS", "motor_current"))
    assert from_toml.ignored == ("alarm",) and from_toml.unmapped == ()
    assert from_toml.missing == ("Not There",)
    from_json = load_historian_csv(path, "PU-1", load_column_map(json_map), small_plant)
    assert from_json.mapped == (("FT-1 PV", "flow"),)
    assert from_json.unmapped == ("MTR AMPS", "alarm")
    wrong = _write(tmp_path / "wrong.toml", '"FT-1 PV" = "no_such_tag"\n')
    with pytest.raises(ConfigError, match="no_such_tag"):
        load_historian_csv(path, "PU-1", load_column_map(wrong), small_plant)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_column_map(_write(tmp_path / "bad.toml", "= nope"))
    with pytest.raises(ConfigError, match="unknown time zone"):
        parse_column_map({"timezone": "Mars/Olympus", "columns": {}})
    with pytest.raises(ConfigError, match="asset 'NOPE'"):
        load_historian_csv(path, "NOPE", None, small_plant)


def test_unusable_files_raise_connector_error(tmp_path: Path, small_plant: PlantSpec) -> None:
    with pytest.raises(ConnectorError, match="not found"):
        load_historian_csv(tmp_path / "missing.csv", "PU-1", None, small_plant)
    no_time = _write(tmp_path / "no_time.csv", "flow;pressure\n1;2\n")
    with pytest.raises(ConnectorError, match="no timestamp column"):
        load_historian_csv(no_time, "PU-1", None, small_plant)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("time;flow\n2024-01-01 00:00:00;3\xb0\n".encode("latin-1"))
    with pytest.raises(ConnectorError, match="not UTF-8"):
        load_historian_csv(latin, "PU-1", None, small_plant)


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
    path = _write(tmp_path / "old.csv", "time,flow\n2020-01-01 00:00:00,300\n")
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
    path = _write(tmp_path / "short.csv", "timestamp,flow,motor_current\n" + rows)
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
    path = _write(tmp_path / "long.csv", "timestamp,flow\n" + rows)
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
