"""The QoS 1 parts of benchmarks/mqtt_throughput.py, against a real Mosquitto."""

from __future__ import annotations

from assistant.plant import load_plant
from benchmarks.common import SAMPLE_PLANT
from benchmarks.mqtt_throughput import (
    PACKET_IDS,
    Qos1Case,
    probe_window,
    qos1_subject,
    run_round,
)
from tests.brokers import MosquittoFactory

PLANT = load_plant(SAMPLE_PLANT / "plant.toml")
TOPICS = sorted(PLANT.routes())


def test_qos1_publisher_gets_a_puback_for_every_message_past_the_packet_ids(
    make_mosquitto: MosquittoFactory,
) -> None:
    broker = make_mosquitto(persistence=False)
    count = PACKET_IDS + 3000  # ids wrap around: the writer must wait for PUBACKs
    measured = run_round(None, broker, TOPICS, count, qos=1)
    assert measured.arrived == count
    assert measured.publisher_s > 0
    assert measured.rate == count / measured.publisher_s


def test_connector_into_the_logged_store_acks_and_logs_every_message(
    make_mosquitto: MosquittoFactory,
) -> None:
    broker = make_mosquitto(persistence=False, extra_config=["max_inflight_messages 20"])
    count = 3000
    subject, store = qos1_subject(Qos1Case("log", 20), broker, PLANT, TOPICS, count)
    assert store is not None
    measured = run_round(subject, broker, TOPICS, count, qos=1)
    assert (measured.arrived, measured.gaps, measured.acked) == (count, 0, count)
    assert measured.rate > 0
    assert store.close() == count
    assert store.store.counters()["accepted"] == count


def test_window_probe_sees_the_broker_window_or_the_receive_maximum(
    make_mosquitto: MosquittoFactory,
) -> None:
    broker = make_mosquitto(persistence=False, extra_config=["max_inflight_messages 7"])
    assert probe_window(broker, PLANT, "3.1.1", published=200) == 7
    assert probe_window(broker, PLANT, "5", published=200) == 7
    assert probe_window(broker, PLANT, "5", receive_maximum=30, published=200) == 30
