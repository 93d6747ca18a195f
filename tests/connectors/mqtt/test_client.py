"""The shared client set-up: a missing host, username and password, mutual TLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError, ConnectorError
from assistant.plant import PlantSpec
from assistant.settings import MqttSettings
from connectors.codec import Decoder, encode_json
from connectors.mqtt.publisher import MqttPublisher
from connectors.mqtt.telemetry import MqttConnector
from tests.brokers import MosquittoFactory, make_tls_files
from tests.connectors.mqtt.conftest import (
    PROTOCOLS,
    Collector,
    client_id,
    decoder_for,
    start_connector,
    wait_until,
)


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
