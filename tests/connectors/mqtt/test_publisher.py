"""The publisher on a real Mosquitto: unreachable brokers, restarts, acknowledgement timeouts."""

from __future__ import annotations

import threading

import pytest

from assistant.errors import ConnectorError
from assistant.plant import PlantSpec
from connectors.codec import encode_json
from connectors.mqtt.publisher import MqttPublisher
from connectors.mqtt.telemetry import MqttConnector
from tests.brokers import Mosquitto
from tests.connectors.mqtt.conftest import (
    WAIT_S,
    Collector,
    client_id,
    start_connector,
    wait_until,
)


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
