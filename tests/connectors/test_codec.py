"""The payload codec: fuzzed with hypothesis, plus one example per rejection reason."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant.domain import Reading
from assistant.plant import parse_plant
from connectors.codec import REASONS, Decoder, PayloadError, encode, encode_json, encode_multi

PLANT = parse_plant(
    {
        "site": "lab",
        "assets": [
            {
                "id": "K-1",
                "name": "Kiln",
                "type": "kiln",
                "multi_topic": "lab/K-1/all",
                "tags": [
                    {"id": "temp", "unit": "°C", "format": "number"},
                    {"id": "pressure", "unit": "bar"},
                    {"id": "fan_speed", "unit": "rpm"},
                ],
            }
        ],
    },
    "lab plant",
)
NUMBER_TOPIC = "plant/lab/K-1/temp"
JSON_TOPIC = "plant/lab/K-1/pressure"
MULTI_TOPIC = "lab/K-1/all"
TOPICS = sorted(PLANT.routes())
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
UNITS = {(a.id, t.id): t.unit for a in PLANT.assets for t in a.tags}

FUZZ = settings(
    database=None,  # no .hypothesis folder in the working tree
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def decoder() -> Decoder:
    """Return a decoder with the default limits."""
    return Decoder(PLANT)


def outcome(topic: str, payload: bytes) -> list[Reading] | PayloadError:
    """Decode and check the contract: good Readings, or a PayloadError with a known reason."""
    try:
        readings = decoder().decode(topic, payload, NOW)
    except PayloadError as exc:
        assert exc.reason in REASONS, exc.reason
        assert str(exc)
        return exc
    assert isinstance(readings, list)
    assert readings
    route = PLANT.routes()[topic]
    for reading in readings:
        assert isinstance(reading, Reading)
        assert math.isfinite(reading.value)
        assert math.isfinite(reading.ts)
        assert NOW - 7 * 86400 <= reading.ts <= NOW + 300
        assert reading.asset == route.asset
        assert route.tag is None or reading.tag == route.tag
        assert reading.unit == UNITS[(reading.asset, reading.tag)]
        assert reading.seq is None or (isinstance(reading.seq, int) and reading.seq >= 0)
    return readings


def reason(topic: str, payload: bytes) -> str:
    """Return the rejection reason of a payload (failing if it is accepted)."""
    result = outcome(topic, payload)
    assert isinstance(result, PayloadError), result
    return result.reason


# -- fuzzing --------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.integers(min_value=10**300, max_value=10**400)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-14)), None]
)
timestamps = (
    st.floats()
    | st.integers()
    | st.floats(min_value=NOW - 8 * 86400, max_value=NOW + 600)
    | st.floats(min_value=NOW - 8 * 86400, max_value=NOW + 600).map(lambda t: t * 1000)
    | st.datetimes(timezones=offsets).map(lambda d: d.isoformat())
    | st.text(max_size=30)
    | json_values
)
objects = st.fixed_dictionaries(
    {},
    optional={
        "value": st.floats() | st.integers() | json_values,
        "ts": timestamps,
        "seq": st.integers(min_value=-5) | json_values,
        "unit": st.text(max_size=5),
        "temp": st.floats() | json_values,
        "fan_speed": st.floats() | st.integers(),
        "colour": json_values,
    },
)


@FUZZ
@given(topic=st.sampled_from(TOPICS), payload=st.binary(max_size=5000))
@example(topic=JSON_TOPIC, payload=b"[" * 3000)
@example(topic=MULTI_TOPIC, payload=b"{" * 2000)
@example(topic=JSON_TOPIC, payload=b'{"value": 1' + b"0" * 400 + b"}")
@example(topic=JSON_TOPIC, payload=b'{"value": 1, "ts": 1' + b"0" * 400 + b"}")
@example(topic=NUMBER_TOPIC, payload=b"1" + b"0" * 400)
def test_arbitrary_bytes_give_readings_or_a_known_reason(topic: str, payload: bytes) -> None:
    outcome(topic, payload)


@FUZZ
@given(topic=st.sampled_from(TOPICS), value=json_values)
def test_arbitrary_json_values_give_readings_or_a_known_reason(topic: str, value: Any) -> None:
    outcome(topic, json.dumps(value).encode("utf-8"))


@FUZZ
@given(topic=st.sampled_from(TOPICS), body=objects)
@example(topic=JSON_TOPIC, body={"value": 10**400})
@example(topic=MULTI_TOPIC, body={"fan_speed": 1, "ts": -(10**400)})
def test_arbitrary_json_objects_give_readings_or_a_known_reason(
    topic: str, body: dict[str, Any]
) -> None:
    outcome(topic, json.dumps(body).encode("utf-8"))


@FUZZ
@given(topic=st.text(max_size=80), payload=st.binary(max_size=64))
def test_arbitrary_topics_are_unknown_unless_routed(topic: str, payload: bytes) -> None:
    if topic in PLANT.routes():
        outcome(topic, payload)
    else:
        assert reason(topic, payload) == "unknown_topic"


@FUZZ
@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    ts=st.floats(min_value=NOW - 86400, max_value=NOW + 60),
    seq=st.integers(min_value=0, max_value=2**63),
)
def test_what_is_encoded_decodes_back(value: float, ts: float, seq: int) -> None:
    (reading,) = decoder().decode(JSON_TOPIC, encode_json(value, ts, seq), NOW)
    assert (reading.value, reading.seq) == (value, seq)
    assert reading.ts == pytest.approx(round(ts, 3), abs=1e-6)
    (number,) = decoder().decode(NUMBER_TOPIC, encode("number", value), NOW)
    assert number.value == value


# -- examples -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "topic", "payload"),
    [
        ("unknown_topic", "plant/lab/K-1/nothing", b"1.0"),
        ("too_large", JSON_TOPIC, b'{"value": 1, "pad": "' + b"x" * 5000 + b'"}'),
        ("not_utf8", NUMBER_TOPIC, b"\xff\xfe1"),
        ("not_a_number", NUMBER_TOPIC, b"twelve"),
        ("not_a_number", NUMBER_TOPIC, b""),
        ("not_json", JSON_TOPIC, b'{"value": '),
        ("not_json", JSON_TOPIC, b""),
        ("wrong_type", JSON_TOPIC, b"[1.0]"),
        ("wrong_type", JSON_TOPIC, b'{"ts": 1800000000}'),
        ("wrong_type", JSON_TOPIC, b'{"value": "4.1"}'),
        ("wrong_type", JSON_TOPIC, b'{"value": true}'),
        ("wrong_type", JSON_TOPIC, b'{"value": 1, "seq": -1}'),
        ("wrong_type", JSON_TOPIC, b'{"value": 1, "seq": 1.5}'),
        ("wrong_type", MULTI_TOPIC, b'{"ts": 1800000000, "seq": 3}'),
        ("not_finite", NUMBER_TOPIC, b"nan"),
        ("not_finite", NUMBER_TOPIC, b"-inf"),
        ("not_finite", JSON_TOPIC, b'{"value": Infinity}'),
        ("not_finite", JSON_TOPIC, b'{"value": 1e999}'),
        ("unknown_tag", MULTI_TOPIC, b'{"temp": 1, "colour": 2}'),
        ("bad_timestamp", JSON_TOPIC, b'{"value": 1, "ts": "at noon"}'),
        ("bad_timestamp", JSON_TOPIC, b'{"value": 1, "ts": "2027-01-15T08:00:00"}'),
        ("bad_timestamp", JSON_TOPIC, b'{"value": 1, "ts": true}'),
        ("bad_timestamp", JSON_TOPIC, b'{"value": 1, "ts": [1]}'),
        ("bad_timestamp", JSON_TOPIC, b'{"value": 1, "ts": NaN}'),
        ("future_timestamp", JSON_TOPIC, encode_json(1.0, NOW + 301)),
        ("future_timestamp", JSON_TOPIC, b'{"value": 1, "ts": "2027-01-16T08:00:00Z"}'),
        ("stale_timestamp", JSON_TOPIC, encode_json(1.0, NOW - 8 * 86400)),
        ("stale_timestamp", JSON_TOPIC, b'{"value": 1, "ts": 1000}'),
    ],
)
def test_each_reason(expected: str, topic: str, payload: bytes) -> None:
    assert expected in REASONS
    assert reason(topic, payload) == expected


def test_every_reason_has_an_example() -> None:
    covered = {
        "unknown_topic",
        "too_large",
        "not_utf8",
        "not_a_number",
        "not_json",
        "wrong_type",
        "not_finite",
        "unknown_tag",
        "bad_timestamp",
        "future_timestamp",
        "stale_timestamp",
    }
    assert covered == set(REASONS)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"2027-01-15T08:00:00Z"', NOW),
        ('"2027-01-15T08:00:00+00:00"', NOW),
        ('"2027-01-15T09:30:00+01:30"', NOW),
        ('"2027-01-15T07:59:59.250Z"', NOW - 0.75),
        ("1800000000", NOW),
        ("1799999999.5", NOW - 0.5),
        ("1800000000000", NOW),  # milliseconds, as many PLC gateways send
        ("1799999999500", NOW - 0.5),
    ],
)
def test_iso_and_millisecond_timestamps(raw: str, expected: float) -> None:
    payload = f'{{"value": 4.12, "ts": {raw}, "seq": 17}}'.encode()
    (reading,) = decoder().decode(JSON_TOPIC, payload, NOW)
    assert reading.ts == pytest.approx(expected, abs=1e-6)
    assert (reading.asset, reading.tag, reading.value, reading.unit, reading.seq) == (
        "K-1",
        "pressure",
        4.12,
        "bar",
        17,
    )


def test_number_payloads_take_the_arrival_time() -> None:
    (reading,) = decoder().decode(NUMBER_TOPIC, b" 812.5\n", NOW)
    assert reading == Reading("K-1", "temp", 812.5, NOW, "°C", None)


def test_multi_payload_gives_one_reading_per_tag() -> None:
    payload = encode_multi({"temp": 800.0, "fan_speed": 1450}, NOW - 1, 9)
    readings = decoder().decode(MULTI_TOPIC, payload, NOW)
    assert readings == [
        Reading("K-1", "temp", 800.0, NOW - 1, "°C", 9),
        Reading("K-1", "fan_speed", 1450.0, NOW - 1, "rpm", 9),
    ]


def test_limits_come_from_the_decoder() -> None:
    strict = Decoder(PLANT, max_payload_bytes=64, max_future_s=0.0, max_age_s=10.0)
    assert _reason(strict, JSON_TOPIC, encode_json(1.0, NOW - 5, 10**60)) == "too_large"
    assert _reason(strict, JSON_TOPIC, encode_json(1.0, NOW + 1)) == "future_timestamp"
    assert _reason(strict, JSON_TOPIC, encode_json(1.0, NOW - 11)) == "stale_timestamp"
    assert strict.decode(JSON_TOPIC, encode_json(1.0, NOW - 9), NOW)[0].ts == NOW - 9


def test_iso_timestamp_example_is_in_utc() -> None:
    assert datetime.fromtimestamp(NOW, UTC).isoformat() == "2027-01-15T08:00:00+00:00"


def _reason(decoder_: Decoder, topic: str, payload: bytes) -> str:
    with pytest.raises(PayloadError) as caught:
        decoder_.decode(topic, payload, NOW)
    return caught.value.reason
