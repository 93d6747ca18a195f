"""The MQTT connector and publisher against a real Mosquitto broker."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.domain import Reading
from assistant.errors import ConfigError, ConnectorError
from assistant.plant import PlantSpec, load_plant, parse_plant
from assistant.settings import MqttSettings
from connectors.codec import REASONS, Decoder, encode, encode_json, encode_multi
from connectors.mqtt import COUNTER_NAMES, MqttConnector, MqttPublisher
from tests.brokers import Mosquitto, MosquittoFactory, make_tls_files

SAMPLE_PLANT = Path(__file__).resolve().parents[2] / "assistant" / "sample_plant" / "plant.toml"
PROTOCOLS = ["3.1.1", "5"]
WAIT_S = 20.0

LAB_PLANT = parse_plant(
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


class Collector:
    """A sink that keeps every batch, for tests to wait on."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.readings: list[Reading] = []
        self.batches = 0

    def __call__(self, batch: list[Reading]) -> None:
        with self._condition:
            self.readings.extend(batch)
            self.batches += 1
            self._condition.notify_all()

    def wait_count(self, count: int, timeout: float = WAIT_S) -> list[Reading]:
        """Wait until at least ``count`` readings arrived; fail the test otherwise."""
        with self._condition:
            arrived = self._condition.wait_for(lambda: len(self.readings) >= count, timeout)
            readings = list(self.readings)
        assert arrived, f"only {len(readings)} of {count} readings arrived within {timeout} s"
        return readings

    def seqs(self) -> set[int]:
        """Return the sequence numbers received so far."""
        with self._condition:
            return {r.seq for r in self.readings if r.seq is not None}


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    """Poll until the condition holds; fail the test naming what did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def client_id() -> str:
    """Return a client id nobody else uses."""
    return f"edge-{uuid.uuid4().hex[:10]}"


def decoder_for(plant: PlantSpec, settings: MqttSettings) -> Decoder:
    """Build the decoder the way the product does, from the plant and the mqtt settings."""
    return Decoder(
        plant,
        max_payload_bytes=settings.max_payload_bytes,
        max_future_s=settings.max_future_s,
        max_age_s=settings.max_age_s,
    )


@pytest.fixture(scope="module")
def sample_plant() -> PlantSpec:
    """Return the sample plant's spec."""
    return load_plant(SAMPLE_PLANT)


@pytest.fixture
def connectors() -> Iterator[list[MqttConnector]]:
    """Keep the connectors a test starts, and stop them all afterwards."""
    started: list[MqttConnector] = []
    yield started
    for connector in started:
        connector.stop()


def start_connector(
    started: list[MqttConnector],
    settings: MqttSettings,
    plant: PlantSpec,
    sink: Callable[[list[Reading]], None],
    **kwargs: Callable[[], float],
) -> MqttConnector:
    """Start a connector, remember it for cleanup and wait until it is subscribed."""
    connector = MqttConnector(settings, decoder_for(plant, settings), sink, **kwargs)
    started.append(connector)
    connector.start()
    assert connector.wait_connected(WAIT_S), connector.state
    return connector


# -- readings arrive decoded ----------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sample_plant_readings_arrive_decoded(
    mosquitto: Mosquitto,
    sample_plant: PlantSpec,
    connectors: list[MqttConnector],
    protocol: str,
) -> None:
    settings = mosquitto.mqtt_settings(protocol=protocol, client_id=client_id())
    sink = Collector()
    connector = start_connector(connectors, settings, sample_plant, sink)
    routes = sample_plant.routes()
    now = time.time()
    with MqttPublisher(mosquitto.mqtt_settings(protocol=protocol)) as publisher:
        for seq, (topic, route) in enumerate(routes.items()):
            publisher.publish(topic, encode(route.format, 100.0 + seq, now, seq))

    readings = sink.wait_count(len(routes))
    by_seq = {r.seq: r for r in readings}
    for seq, route in enumerate(routes.values()):
        reading = by_seq[seq]
        spec = sample_plant.tag(route.asset, route.tag or "")
        assert spec is not None
        assert (reading.asset, reading.tag, reading.value, reading.unit) == (
            route.asset,
            route.tag,
            100.0 + seq,
            spec.unit,
        )
        assert reading.ts == pytest.approx(now, abs=0.001)
    counts = connector.counters()
    assert counts["received"] == counts["accepted"] == counts["delivered"] == len(routes)
    assert counts["connects"] == 1
    assert connector.connected
    assert connector.state.startswith("connected to")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_number_json_and_multi_formats(
    mosquitto: Mosquitto, connectors: list[MqttConnector], protocol: str
) -> None:
    settings = mosquitto.mqtt_settings(protocol=protocol, client_id=client_id())
    sink = Collector()
    arrival = 1_800_000_000.0
    start_connector(connectors, settings, LAB_PLANT, sink, clock=lambda: arrival)
    with MqttPublisher(mosquitto.mqtt_settings(protocol=protocol)) as publisher:
        publisher.publish(NUMBER_TOPIC, b" 812.5 ")
        publisher.publish(JSON_TOPIC, encode_json(1.25, arrival - 2, 7, "bar"))
        publisher.publish(
            MULTI_TOPIC, encode_multi({"temp": 800.0, "fan_speed": 1450.0}, arrival - 1, 8)
        )

    readings = sink.wait_count(4)
    assert readings == [
        Reading("K-1", "temp", 812.5, arrival, "°C", None),
        Reading("K-1", "pressure", 1.25, arrival - 2, "bar", 7),
        Reading("K-1", "temp", 800.0, arrival - 1, "°C", 8),
        Reading("K-1", "fan_speed", 1450.0, arrival - 1, "rpm", 8),
    ]


# -- bad payloads -----------------------------------------------------------------------------


def bad_payloads(now: float, max_bytes: int) -> dict[str, tuple[str, bytes]]:
    """Return one (topic, payload) per rejection reason that can come through a subscription."""
    return {
        "too_large": (JSON_TOPIC, b'{"value": 1.0, "pad": "' + b"x" * max_bytes + b'"}'),
        "not_utf8": (NUMBER_TOPIC, b"\xff\xfe1.0"),
        "not_a_number": (NUMBER_TOPIC, b"twelve"),
        "not_json": (JSON_TOPIC, b'{"value": '),
        "wrong_type": (JSON_TOPIC, b"[1.0, 2.0]"),
        "not_finite": (NUMBER_TOPIC, b"inf"),
        "unknown_tag": (MULTI_TOPIC, b'{"temp": 1.0, "colour": 3}'),
        "bad_timestamp": (JSON_TOPIC, b'{"value": 1.0, "ts": "at noon"}'),
        "future_timestamp": (JSON_TOPIC, encode_json(1.0, now + 86400.0)),
        "stale_timestamp": (JSON_TOPIC, encode_json(1.0, now - 30 * 86400.0)),
    }


def test_bad_payloads_are_counted_by_reason_and_good_ones_still_arrive(
    mosquitto: Mosquitto, connectors: list[MqttConnector], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="connectors.mqtt")
    settings = mosquitto.mqtt_settings(client_id=client_id())
    sink = Collector()
    connector = start_connector(connectors, settings, LAB_PLANT, sink)
    bad = bad_payloads(time.time(), settings.max_payload_bytes)
    hostile = [b"[" * 3000, b'{"value": 1' + b"0" * 400 + b"}", b"\x00" * 200, b"", b"-"]
    with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
        publisher.publish(JSON_TOPIC, encode_json(1.0, seq=0))
        for topic, payload in bad.values():
            publisher.publish(topic, payload)
        wait_until(lambda: connector.counters()["received"] == len(bad) + 1, "the bad ones")
        counts = connector.counters()
        for reason in bad:
            assert counts[f"rejected_{reason}"] == 1, reason
        for payload in hostile:
            publisher.publish(JSON_TOPIC, payload)
            publisher.publish(NUMBER_TOPIC, payload)
        publisher.publish(JSON_TOPIC, encode_json(2.0, seq=1))

    readings = sink.wait_count(2)
    assert [r.seq for r in readings] == [0, 1]
    counts = connector.counters()
    rejected = sum(counts[f"rejected_{reason}"] for reason in REASONS)
    # Hostile payloads are rejected (or, for a decoder bug, counted) and crash nothing.
    assert rejected + counts["decode_errors"] == len(bad) + 2 * len(hostile)
    assert counts["received"] == len(bad) + 2 * len(hostile) + 2
    assert counts["accepted"] == 2
    assert connector.connected
    logged = " ".join(r.getMessage() for r in caplog.records)
    for reason in bad:
        assert f"({reason})" in logged


def test_bad_payload_logging_is_rate_limited_per_reason(
    mosquitto: Mosquitto, connectors: list[MqttConnector], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="connectors.mqtt")
    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    settings = mosquitto.mqtt_settings(client_id=client_id(), log_interval_s=60.0)
    connector = start_connector(connectors, settings, LAB_PLANT, Collector(), clock=clock)

    def lines(reason: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if f"({reason})" in r.getMessage()]

    with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
        for _ in range(5):
            publisher.publish(NUMBER_TOPIC, b"twelve")
        publisher.publish(JSON_TOPIC, b"{")
        wait_until(lambda: connector.counters()["rejected_not_json"] == 1, "the bad JSON")
        assert connector.counters()["rejected_not_a_number"] == 5
        assert len(lines("not_a_number")) == 1
        assert len(lines("not_json")) == 1

        offset[0] += 61.0
        publisher.publish(NUMBER_TOPIC, b"thirteen")
        wait_until(lambda: connector.counters()["rejected_not_a_number"] == 6, "the 6th")

    later = lines("not_a_number")
    assert len(later) == 2
    assert "4 more since the last report" in later[1]


def test_unknown_topic_from_a_stale_persistent_subscription_is_counted(
    mosquitto: Mosquitto, connectors: list[MqttConnector]
) -> None:
    """The broker keeps a session's old subscriptions after the plant file dropped a tag."""
    settings = mosquitto.mqtt_settings(client_id=client_id())
    old = start_connector(connectors, settings, LAB_PLANT, Collector())
    old.stop()
    smaller = parse_plant(
        {
            "site": "lab",
            "assets": [{"id": "K-1", "name": "Kiln", "type": "kiln", "tags": [{"id": "pressure"}]}],
        }
    )
    sink = Collector()
    connector = start_connector(connectors, settings, smaller, sink)
    with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
        publisher.publish(NUMBER_TOPIC, b"1.0")
        publisher.publish(JSON_TOPIC, encode_json(2.0, seq=3))
    assert [r.seq for r in sink.wait_count(1)] == [3]
    wait_until(lambda: connector.counters()["rejected_unknown_topic"] == 1, "unknown_topic")


# -- delivery across outages ------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_nothing_published_while_the_connector_is_stopped_is_lost(
    mosquitto: Mosquitto,
    sample_plant: PlantSpec,
    connectors: list[MqttConnector],
    protocol: str,
) -> None:
    settings = mosquitto.mqtt_settings(protocol=protocol, client_id=client_id(), qos=1)
    sink = Collector()
    connector = start_connector(connectors, settings, sample_plant, sink)
    connector.stop()
    assert not connector.connected
    assert connector.state == "stopped"

    topics = sorted(sample_plant.routes())
    count = 1500
    with MqttPublisher(mosquitto.mqtt_settings(protocol=protocol)) as publisher:
        for seq in range(count):
            publisher.publish(topics[seq % len(topics)], encode_json(float(seq), seq=seq))

    again = start_connector(connectors, settings, sample_plant, sink)  # same client id
    sink.wait_count(count)
    missing = set(range(count)) - sink.seqs()
    assert not missing, f"{len(missing)} lost, e.g. {sorted(missing)[:10]}"
    # The same connector object can be started again, too.
    again.stop()
    again.start()
    assert again.wait_connected(WAIT_S)
    assert again.counters()["connects"] == 2


def test_connector_resumes_when_the_broker_is_killed_mid_stream(
    mosquitto: Mosquitto, sample_plant: PlantSpec, connectors: list[MqttConnector]
) -> None:
    settings = mosquitto.mqtt_settings(client_id=client_id())
    sink = Collector()
    connector = start_connector(connectors, settings, sample_plant, sink)
    topic = sorted(sample_plant.routes())[0]
    published: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def publish_stream() -> None:
        try:
            with MqttPublisher(mosquitto.mqtt_settings(), timeout_s=WAIT_S) as publisher:
                seq = 0
                while not stop.is_set():
                    publisher.publish(topic, encode_json(float(seq), seq=seq))
                    published.append(seq)
                    seq += 1
                    time.sleep(0.001)
        except BaseException as exc:  # reported by the test thread below
            errors.append(exc)

    thread = threading.Thread(target=publish_stream)
    thread.start()
    try:
        sink.wait_count(100)
        mosquitto.kill()
        wait_until(lambda: not connector.connected, "the connector to notice the crash")
        killed_at = len(published)
        mosquitto.restart()
        assert connector.wait_connected(WAIT_S), connector.state
        wait_until(lambda: len(published) > killed_at + 200 or errors, "publishing to resume")
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    resumed = set(published[killed_at + 1 :])
    sink.wait_count(len(published) - 50)
    wait_until(lambda: resumed <= sink.seqs(), "every message published after the restart")
    counts = connector.counters()
    assert counts["connects"] >= 2
    assert counts["disconnects"] >= 1
    assert connector.last_error is not None
    assert "lost the connection" in connector.last_error


def test_start_does_not_raise_when_the_broker_is_down_and_connects_when_it_comes_up(
    mosquitto: Mosquitto, sample_plant: PlantSpec, connectors: list[MqttConnector]
) -> None:
    mosquitto.stop()
    settings = mosquitto.mqtt_settings(client_id=client_id())
    sink = Collector()
    connector = MqttConnector(settings, decoder_for(sample_plant, settings), sink)
    connectors.append(connector)
    connector.start()
    wait_until(lambda: connector.last_error is not None, "a visible connection error")
    assert f"cannot reach MQTT broker 127.0.0.1:{mosquitto.port}" in (connector.last_error or "")
    assert not connector.connected

    mosquitto.restart()
    assert connector.wait_connected(WAIT_S), connector.state
    with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
        publisher.publish(sorted(sample_plant.routes())[0], encode_json(5.0, seq=1))
    assert sink.wait_count(1)[0].seq == 1


# -- publisher --------------------------------------------------------------------------------


def test_publisher_reports_an_unreachable_broker_clearly(mosquitto: Mosquitto) -> None:
    mosquitto.stop()
    publisher = MqttPublisher(mosquitto.mqtt_settings())
    with pytest.raises(ConnectorError, match=f"127.0.0.1:{mosquitto.port}: .*refused"):
        publisher.connect(timeout=5)
    with pytest.raises(ConnectorError, match="call connect"):
        publisher.publish("plant/x", b"1")


def test_publisher_waits_through_a_broker_restart(
    mosquitto: Mosquitto, sample_plant: PlantSpec, connectors: list[MqttConnector]
) -> None:
    settings = mosquitto.mqtt_settings(client_id=client_id())
    sink = Collector()
    connector = start_connector(connectors, settings, sample_plant, sink)
    topic = sorted(sample_plant.routes())[0]
    with MqttPublisher(mosquitto.mqtt_settings(), timeout_s=WAIT_S) as publisher:
        mosquitto.stop()
        wait_until(lambda: not connector.connected, "the connector to notice the stop")
        restarter = threading.Timer(0.5, mosquitto.restart)
        restarter.start()
        try:
            publisher.publish(topic, encode_json(1.0, seq=42))  # waits for the broker's ack
        finally:
            restarter.join()
    assert 42 in {r.seq for r in sink.wait_count(1)}


def test_publisher_raises_when_a_message_cannot_be_delivered_in_time(
    mosquitto: Mosquitto,
) -> None:
    with MqttPublisher(mosquitto.mqtt_settings(), timeout_s=1.0) as publisher:
        mosquitto.stop()
        with pytest.raises(ConnectorError, match=f"127.0.0.1:{mosquitto.port}"):
            for seq in range(10):  # the first may still be written before the close is seen
                publisher.publish("plant/any/thing", encode_json(1.0, seq=seq))


def test_missing_host_is_a_config_error(sample_plant: PlantSpec) -> None:
    settings = MqttSettings()
    with pytest.raises(ConfigError, match=r"mqtt\.host"):
        MqttConnector(settings, Decoder(sample_plant), Collector())
    with pytest.raises(ConfigError, match=r"mqtt\.host"):
        MqttPublisher(settings)


# -- authentication and TLS ---------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_username_and_password(
    make_mosquitto: MosquittoFactory,
    sample_plant: PlantSpec,
    connectors: list[MqttConnector],
    protocol: str,
) -> None:
    broker = make_mosquitto(users={"edge": "s3cret", "sim": "pub-pass"})
    where = f"127.0.0.1:{broker.port}"

    bad = broker.mqtt_settings(protocol=protocol, username="edge", password="wrong")
    with pytest.raises(ConnectorError, match=f"{where} refused the connection: .*(uthori|user)"):
        MqttPublisher(bad).connect(timeout=5)
    anonymous = broker.mqtt_settings(protocol=protocol)
    with pytest.raises(ConnectorError, match=f"{where} refused the connection"):
        MqttPublisher(anonymous).connect(timeout=5)

    refused = MqttConnector(
        bad.model_copy(update={"client_id": client_id()}),
        decoder_for(sample_plant, bad),
        Collector(),
    )
    connectors.append(refused)
    refused.start()
    wait_until(lambda: refused.last_error is not None, "the refusal to show")
    assert f"MQTT broker {where} refused the connection" in (refused.last_error or "")
    assert not refused.connected
    assert refused.counters()["connects"] == 0

    good = broker.mqtt_settings(
        protocol=protocol, username="edge", password="s3cret", client_id=client_id()
    )
    sink = Collector()
    start_connector(connectors, good, sample_plant, sink)
    publisher_settings = broker.mqtt_settings(
        protocol=protocol, username="sim", password="pub-pass"
    )
    with MqttPublisher(publisher_settings) as publisher:
        publisher.publish(sorted(sample_plant.routes())[0], encode_json(3.0, seq=9))
    assert sink.wait_count(1)[0].seq == 9


def test_mutual_tls(
    make_mosquitto: MosquittoFactory,
    sample_plant: PlantSpec,
    connectors: list[MqttConnector],
    tmp_path: Path,
) -> None:
    files, client_cert, client_key = make_tls_files(tmp_path / "tls")
    broker = make_mosquitto(tls=files)
    settings = broker.mqtt_settings(
        cert_file=client_cert, key_file=client_key, client_id=client_id()
    )
    sink = Collector()
    start_connector(connectors, settings, sample_plant, sink)
    with MqttPublisher(settings) as publisher:
        publisher.publish(sorted(sample_plant.routes())[0], encode_json(3.0, seq=11))
    assert sink.wait_count(1)[0].seq == 11

    no_client_cert = broker.mqtt_settings()
    with pytest.raises(ConnectorError, match=f"127.0.0.1:{broker.port}: .*cert_file"):
        MqttPublisher(no_client_cert).connect(timeout=5)
    missing = broker.mqtt_settings(ca_file=tmp_path / "nope.crt")
    with pytest.raises(ConfigError, match="TLS"):
        MqttPublisher(missing).connect(timeout=5)


# -- the core is slower than the plant ----------------------------------------------------------


def test_a_slow_sink_does_not_stall_the_network_thread(
    mosquitto: Mosquitto, sample_plant: PlantSpec, connectors: list[MqttConnector]
) -> None:
    release = threading.Event()
    collected = Collector()

    def slow_sink(batch: list[Reading]) -> None:
        release.wait()
        collected(batch)

    settings = mosquitto.mqtt_settings(client_id=client_id())
    connector = start_connector(connectors, settings, sample_plant, slow_sink)
    topic = sorted(sample_plant.routes())[0]
    count = 300
    try:
        with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
            for seq in range(count):  # each waits for the broker's ack
                publisher.publish(topic, encode_json(float(seq), seq=seq))
        wait_until(lambda: connector.counters()["received"] == count, "all to be received")
        assert connector.counters()["accepted"] == count
        assert connector.counters()["delivered"] == 0
        assert connector.connected
    finally:
        release.set()
    collected.wait_count(count)
    assert collected.seqs() == set(range(count))
    assert connector.counters()["queue_full"] == 0


def test_a_full_buffer_drops_and_counts_instead_of_blocking(
    mosquitto: Mosquitto, sample_plant: PlantSpec, connectors: list[MqttConnector]
) -> None:
    release = threading.Event()
    collected = Collector()

    def blocked_sink(batch: list[Reading]) -> None:
        release.wait()
        collected(batch)

    settings = mosquitto.mqtt_settings(client_id=client_id(), queue_size=100)
    connector = start_connector(connectors, settings, sample_plant, blocked_sink)
    topic = sorted(sample_plant.routes())[0]
    count = 250
    try:
        with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
            for seq in range(count):
                publisher.publish(topic, encode_json(float(seq), seq=seq))
        wait_until(lambda: connector.counters()["received"] == count, "all to be received")
        counts = connector.counters()
        assert counts["queue_full"] > 0
        assert counts["accepted"] + counts["queue_full"] == count
        assert counts["queued"] <= 100
    finally:
        release.set()
    wait_until(lambda: connector.counters()["delivered"] == counts["accepted"], "the drain")


def test_a_failing_sink_is_counted_and_the_consumer_keeps_going(
    mosquitto: Mosquitto,
    sample_plant: PlantSpec,
    connectors: list[MqttConnector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="connectors.mqtt")
    collected = Collector()
    calls = [0]

    def flaky_sink(batch: list[Reading]) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("store is locked")
        collected(batch)

    settings = mosquitto.mqtt_settings(client_id=client_id())
    connector = start_connector(connectors, settings, sample_plant, flaky_sink)
    topic = sorted(sample_plant.routes())[0]
    with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
        publisher.publish(topic, encode_json(1.0, seq=1))
        wait_until(lambda: connector.counters()["sink_errors"] == 1, "the sink error")
        publisher.publish(topic, encode_json(2.0, seq=2))
    assert collected.wait_count(1)[0].seq == 2
    assert "store is locked" in caplog.text


def test_counters_name_every_reason(mosquitto: Mosquitto, sample_plant: PlantSpec) -> None:
    settings = mosquitto.mqtt_settings(client_id=client_id())
    connector = MqttConnector(settings, decoder_for(sample_plant, settings), Collector())
    counts = connector.counters()
    assert set(COUNTER_NAMES) <= set(counts)
    assert {f"rejected_{reason}" for reason in REASONS} <= set(counts)
    assert all(value == 0 for value in counts.values())
    assert connector.state == "stopped"
    assert connector.last_error is None
    assert not connector.wait_connected(0)
