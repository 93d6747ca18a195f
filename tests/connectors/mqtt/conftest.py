"""What the MQTT tests share: plants, a collecting sink, waiting, and started connectors."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.domain import Reading
from assistant.plant import PlantSpec, load_plant, parse_plant
from assistant.settings import MqttSettings
from connectors.codec import Decoder
from connectors.mqtt.telemetry import MqttConnector

SAMPLE_PLANT = Path(__file__).resolve().parents[3] / "assistant" / "sample_plant" / "plant.toml"
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
