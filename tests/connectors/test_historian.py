"""Historian exports: real SKAB files and hand-made exports, loaded into readings."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from assistant.domain import Reading
from assistant.errors import ConfigError, ConnectorError
from assistant.plant import PlantSpec, parse_plant
from connectors.historian import (
    ColumnMap,
    bundled_map,
    bundled_plant,
    detect_separator,
    load_column_map,
    load_historian_csv,
    normalise_column,
    parse_column_map,
)
from tests.connectors.conftest import ANOMALY_FREE, SKAB_TAGS, VALVE1_1, write_export


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


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
    path = write_export(
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
    path = write_export(
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
    path = write_export(
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
    path = write_export(
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
    path = write_export(tmp_path / "plant.csv", "ts;FT-1 PV;MTR AMPS;alarm\n1700000000;300;88;0\n")
    toml_map = write_export(
        tmp_path / "map.toml",
        'asset = "PU-1"\nignore = ["alarm"]\n[columns]\n"FT-1 PV" = "flow"\n"MTR AMPS" = '
        '"motor_current"\n"Not There" = "pressure"\n',
    )
    json_map = write_export(tmp_path / "map.json", json.dumps({"FT-1 PV": "flow"}))
    from_toml = load_historian_csv(path, None, load_column_map(toml_map), small_plant)
    assert from_toml.mapped == (("FT-1 PV", "flow"), ("MTR AMPS", "motor_current"))
    assert from_toml.ignored == ("alarm",) and from_toml.unmapped == ()
    assert from_toml.missing == ("Not There",)
    from_json = load_historian_csv(path, "PU-1", load_column_map(json_map), small_plant)
    assert from_json.mapped == (("FT-1 PV", "flow"),)
    assert from_json.unmapped == ("MTR AMPS", "alarm")
    wrong = write_export(tmp_path / "wrong.toml", '"FT-1 PV" = "no_such_tag"\n')
    with pytest.raises(ConfigError, match="no_such_tag"):
        load_historian_csv(path, "PU-1", load_column_map(wrong), small_plant)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_column_map(write_export(tmp_path / "bad.toml", "= nope"))
    with pytest.raises(ConfigError, match="unknown time zone"):
        parse_column_map({"timezone": "Mars/Olympus", "columns": {}})
    with pytest.raises(ConfigError, match="asset 'NOPE'"):
        load_historian_csv(path, "NOPE", None, small_plant)


def test_unusable_files_raise_connector_error(tmp_path: Path, small_plant: PlantSpec) -> None:
    with pytest.raises(ConnectorError, match="not found"):
        load_historian_csv(tmp_path / "missing.csv", "PU-1", None, small_plant)
    no_time = write_export(tmp_path / "no_time.csv", "flow;pressure\n1;2\n")
    with pytest.raises(ConnectorError, match="no timestamp column"):
        load_historian_csv(no_time, "PU-1", None, small_plant)
    noise = tmp_path / "noise.csv"
    noise.write_bytes(b"time;flow\n2024-01-01 00:00:00;3\x81\x8d\x90\n")
    with pytest.raises(ConnectorError, match=r"noise\.csv: cannot decode as UTF-8 text"):
        load_historian_csv(noise, "PU-1", None, small_plant)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"time;flow\x00\x01\n")
    with pytest.raises(ConnectorError, match="binary content"):
        load_historian_csv(binary, "PU-1", None, small_plant)


def test_cp1252_and_utf16_exports_load(tmp_path: Path, small_plant: PlantSpec) -> None:
    text = (
        "Zeitstempel;Durchfluss m³/h;Druck;Einheit\n"
        "01.07.2024 12:00:00;310,5;4,25;°C\n"
        "01.07.2024 12:00:10;311,0;4,30;°C\n"
    )
    mapping = parse_column_map({"Durchfluss m³/h": "flow", "Druck": "pressure"})
    for name, encoding in (("excel.csv", "cp1252"), ("wide.csv", "utf-16")):
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        data = load_historian_csv(path, "PU-1", mapping, small_plant)
        assert data.mapped == (("Durchfluss m³/h", "flow"), ("Druck", "pressure")), name
        assert data.unmapped == ("Einheit",) and data.skipped_count == 0
        assert [(r.tag, r.value) for r in data.readings] == [
            ("flow", 310.5),
            ("pressure", 4.25),
            ("flow", 311.0),
            ("pressure", 4.3),
        ]
