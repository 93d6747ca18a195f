"""The telemetry connector on a real Mosquitto: decoding, bad payloads, outages, a slow core."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from assistant.domain import Reading
from assistant.plant import PlantSpec, parse_plant
from connectors.codec import REASONS, encode, encode_json, encode_multi
from connectors.mqtt.publisher import MqttPublisher
from connectors.mqtt.telemetry import COUNTER_NAMES, MqttConnector
from tests.brokers import Mosquitto, MosquittoFactory
from tests.connectors.mqtt.conftest import (
    JSON_TOPIC,
    LAB_PLANT,
    MULTI_TOPIC,
    NUMBER_TOPIC,
    PROTOCOLS,
    WAIT_S,
    Collector,
    client_id,
    decoder_for,
    start_connector,
    wait_until,
)


def gone(mosquitto: Mosquitto, client: str) -> None:
    """Wait until the broker has read all a stopped client sent (its DISCONNECT included).

    A client that reconnects with the same id sooner takes the session over, and the broker
    discards what it had not yet read from the old connection (acknowledgements included).
    """
    wait_until(lambda: f"Client {client} disconnected" in mosquitto.log(), f"{client} to leave")


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


# -- the core is slower than the plant ----------------------------------------------------------


def test_a_slow_sink_holds_delivery_back_at_the_broker_and_loses_nothing(
    mosquitto: Mosquitto, sample_plant: PlantSpec, connectors: list[MqttConnector]
) -> None:
    release = threading.Event()
    collected = Collector()

    def slow_sink(batch: list[Reading]) -> None:
        release.wait()
        collected(batch)

    settings = mosquitto.mqtt_settings(client_id=client_id(), keepalive_s=5)
    connector = start_connector(connectors, settings, sample_plant, slow_sink)
    topic = sorted(sample_plant.routes())[0]
    count = 300
    try:
        with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
            for seq in range(count):  # each waits for the broker's ack
                publisher.publish(topic, encode_json(float(seq), seq=seq))
        wait_until(lambda: connector.counters()["received"] > 0, "the first message")
        time.sleep(6)  # longer than the keep alive: the network thread must keep it up
        counts = connector.counters()
        # Nothing is acknowledged while the sink has not returned, so the broker stops at its
        # in-flight window (Mosquitto: 20) and keeps the rest queued.
        assert 0 < counts["received"] < count
        assert counts["delivered"] == 0 and counts["acked"] == 0
        assert connector.connected
    finally:
        release.set()
    collected.wait_count(count)
    assert collected.seqs() == set(range(count))
    wait_until(lambda: connector.counters()["acked"] == count, "every message acknowledged")
    assert connector.counters()["queue_full"] == 0


def test_a_full_buffer_drops_counts_and_acknowledges_instead_of_blocking(
    make_mosquitto: MosquittoFactory, sample_plant: PlantSpec, connectors: list[MqttConnector]
) -> None:
    # A broker whose in-flight window is unlimited can fill the connector's buffer.
    mosquitto = make_mosquitto(extra_config=["max_inflight_messages 0"])
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
    # Dropped messages are acknowledged too (in order), or the broker would stall on them.
    wait_until(lambda: connector.counters()["acked"] == count, "every message acknowledged")
    connector.stop()
    gone(mosquitto, settings.client_id)
    again = Collector()
    start_connector(connectors, settings, sample_plant, again)  # same session
    time.sleep(1.0)
    assert again.readings == [], "the broker delivered acknowledged messages again"


def test_a_failing_sink_is_retried_and_nothing_is_lost(
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
    collected.wait_count(2)
    assert [r.seq for r in collected.readings] == [1, 2]
    wait_until(lambda: connector.counters()["acked"] == 2, "both acknowledged")
    assert "store is locked" in caplog.text


def test_a_message_is_acknowledged_only_after_the_sink_returned(
    mosquitto: Mosquitto, sample_plant: PlantSpec, connectors: list[MqttConnector]
) -> None:
    collected = Collector()
    acked_during_sink: list[int] = []
    holder: list[MqttConnector] = []

    def sink(batch: list[Reading]) -> None:
        acked_during_sink.append(holder[0].counters()["acked"])
        collected(batch)

    settings = mosquitto.mqtt_settings(client_id=client_id())
    holder.append(start_connector(connectors, settings, sample_plant, sink))
    topic = sorted(sample_plant.routes())[0]
    with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
        publisher.publish(topic, encode_json(1.0, seq=1))
        collected.wait_count(1)
        wait_until(lambda: holder[0].counters()["acked"] == 1, "the acknowledgement")
        publisher.publish(topic, encode_json(2.0, seq=2))
        collected.wait_count(2)
    assert acked_during_sink[0] == 0
    wait_until(lambda: holder[0].counters()["acked"] == 2, "the second acknowledgement")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_batch_the_sink_never_took_is_delivered_again_next_session(
    mosquitto: Mosquitto,
    sample_plant: PlantSpec,
    connectors: list[MqttConnector],
    protocol: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="connectors.mqtt")  # the sink's failures are expected

    def broken_sink(batch: list[Reading]) -> None:
        raise OSError(28, "No space left on device")

    settings = mosquitto.mqtt_settings(protocol=protocol, client_id=client_id())
    connector = start_connector(connectors, settings, sample_plant, broken_sink)
    topic = sorted(sample_plant.routes())[0]
    with MqttPublisher(mosquitto.mqtt_settings(protocol=protocol)) as publisher:
        for seq in range(5):
            publisher.publish(topic, encode_json(float(seq), seq=seq))
    wait_until(lambda: connector.counters()["sink_errors"] >= 2, "the retries")
    connector.stop()  # still failing: nothing of it may be acknowledged
    assert connector.counters()["acked"] == 0
    again = Collector()
    start_connector(connectors, settings, sample_plant, again)  # same client id and session
    again.wait_count(5)
    assert again.seqs() == set(range(5))


def test_rejected_payloads_are_acknowledged_so_the_broker_forgets_them(
    mosquitto: Mosquitto, sample_plant: PlantSpec, connectors: list[MqttConnector]
) -> None:
    sink = Collector()
    settings = mosquitto.mqtt_settings(client_id=client_id())
    connector = start_connector(connectors, settings, sample_plant, sink)
    topic = sorted(sample_plant.routes())[0]
    with MqttPublisher(mosquitto.mqtt_settings()) as publisher:
        publisher.publish(topic, b"{not json")
        publisher.publish(topic, encode_json(7.0, seq=7))
    sink.wait_count(1)
    wait_until(lambda: connector.counters()["acked"] == 2, "both acknowledged")
    connector.stop()
    gone(mosquitto, settings.client_id)
    again = Collector()
    restarted = start_connector(connectors, settings, sample_plant, again)
    time.sleep(1.0)
    assert again.readings == [] and restarted.counters()["received"] == 0


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
