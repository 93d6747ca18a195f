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
from assistant.settings import MqttSettings, Settings, to_toml
from connectors.embedded_broker import EmbeddedBroker
from connectors.mqtt import MqttPublisher
from connectors.simulator import PlantSimulator, run_publisher

log = logging.getLogger(__name__)

SAMPLE_PLANT = Path(__file__).parent / "sample_plant"
DEMO_FAULT = ("clogging_strainer", "ST-101", 60.0, 1.0, 120.0)
"""ST-101 starts clogging a minute in (over a 2-minute ramp); its differential pressure alarm
follows."""
DEMO_WORKORDER_TOPIC = "riverbend/workorders"
COMPANION_CONFIG = "demo-session.toml"


def demo_settings(settings: Settings) -> Settings:
    """Return the settings of the demo: its own data dir and the sample plant."""
    plant = settings.plant
    if plant.file is None:
        plant = plant.model_copy(update={"file": SAMPLE_PLANT / "plant.toml"})
    workorders = settings.workorders
    if workorders.mqtt_topic is None:
        workorders = workorders.model_copy(update={"mqtt_topic": DEMO_WORKORDER_TOPIC})
    return settings.model_copy(
        update={"data_dir": settings.data_dir / "demo", "plant": plant, "workorders": workorders}
    )


def write_companion_config(demo: Settings, mqtt: MqttSettings) -> Path:
    """Write the running demo's settings (data dir, plant, live broker) for other terminals.

    ``shiftmate --config <file> alarms|draft|workorders ...`` then works on the demo's journal
    and publishes to its broker while the demo runs.
    """
    path = demo.data_dir / COMPANION_CONFIG
    values = demo.model_copy(update={"mqtt": mqtt}).model_dump(mode="json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Settings of the running 'shiftmate demo' (rewritten at each start).\n" + to_toml(values),
        encoding="utf-8",
    )
    return path


class DemoPlant:
    """Runs the embedded broker (if no broker is configured) and the simulator."""

    def __init__(
        self,
        plant: PlantSpec,
        mqtt: MqttSettings,
        *,
        fault: bool = True,
        fault_after_s: float = DEMO_FAULT[2],
        fault_ramp_s: float = DEMO_FAULT[4],
    ) -> None:
        self._plant = plant
        self._mqtt = mqtt
        self._fault = fault
        self._fault_after_s = fault_after_s
        self._fault_ramp_s = fault_ramp_s
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
            kind, asset, _, severity, _ = DEMO_FAULT
            simulator.inject(kind, asset, self._fault_after_s, severity, self._fault_ramp_s)
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
