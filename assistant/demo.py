"""The demo plant: an embedded broker and the simulator publishing the sample plant live.

With no broker configured, ``shiftmate demo`` starts an embedded MQTT broker on loopback and the
simulator, so a new user sees live, changing values with nothing else installed. A fault is
injected after a while, so an alarm shows up for the user to ask about.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from assistant.plant import PlantSpec
from assistant.settings import MqttSettings, Settings
from connectors.embedded_broker import EmbeddedBroker
from connectors.mqtt import MqttPublisher
from connectors.simulator import PlantSimulator, run_publisher

log = logging.getLogger(__name__)

SAMPLE_PLANT = Path(__file__).parent / "sample_plant"
DEMO_FAULT = ("clogging_strainer", "ST-101", 60.0, 1.0, 120.0)
"""ST-101 starts clogging a minute in; its differential pressure alarm follows."""


def demo_settings(settings: Settings) -> Settings:
    """Return the settings of the demo: its own data dir and the sample plant."""
    plant = settings.plant
    if plant.file is None:
        plant = plant.model_copy(update={"file": SAMPLE_PLANT / "plant.toml"})
    return settings.model_copy(update={"data_dir": settings.data_dir / "demo", "plant": plant})


class DemoPlant:
    """Runs the embedded broker (if no broker is configured) and the simulator."""

    def __init__(self, plant: PlantSpec, mqtt: MqttSettings, *, fault: bool = True) -> None:
        self._plant = plant
        self._mqtt = mqtt
        self._fault = fault
        self.broker: EmbeddedBroker | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._publisher: MqttPublisher | None = None
        self.error: str | None = None

    def start(self) -> MqttSettings:
        """Start the broker and the simulator; return the MQTT settings to subscribe with."""
        mqtt = self._mqtt
        if mqtt.host is None:
            self.broker = EmbeddedBroker()
            port = self.broker.start()
            mqtt = mqtt.model_copy(update={"host": "127.0.0.1", "port": port, "tls": False})
        self._publisher = MqttPublisher(mqtt, client_id=f"{mqtt.client_id}-simulator"[:64])
        self._publisher.connect()
        simulator = PlantSimulator(self._plant, seed=7)
        if self._fault:
            simulator.inject(*DEMO_FAULT)
        self._thread = threading.Thread(
            target=self._run, args=(simulator,), name="demo-simulator", daemon=True
        )
        self._thread.start()
        return mqtt

    def _run(self, simulator: PlantSimulator) -> None:
        assert self._publisher is not None
        try:
            run_publisher(
                simulator, self._plant, self._publisher, rate_hz=1.0, stop_event=self._stop, qos=0
            )
        except Exception as exc:  # shown in the demo's status, never a crashed thread
            self.error = f"simulator stopped: {exc}"
            log.error(self.error)

    def stop(self) -> None:
        """Stop the simulator and the broker."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._publisher is not None:
            self._publisher.close()
        if self.broker is not None:
            self.broker.stop()
