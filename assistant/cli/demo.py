"""``shiftmate demo``: the sample plant, live, with an embedded broker and the simulator.

With no broker configured, ``shiftmate demo`` starts an embedded MQTT broker on loopback and the
simulator, so a new user sees live, changing values with nothing else installed. A fault is
injected after a while, so an alarm shows up for the user to ask about.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.cli import exit_codes
from assistant.cli.knowledge import ask_and_print, run_ingest
from assistant.cli.output import err
from assistant.cli.telemetry import event_line, print_table
from assistant.cli.tui import run_app
from assistant.domain import TelemetryEvent
from assistant.errors import ChatError, ConfigError
from assistant.plant import SAMPLE_PLANT, PlantSpec, load_plant
from assistant.ports import MessagePublisher
from assistant.services import Services, build_services, make_publisher
from assistant.settings import MqttSettings, Settings, to_toml

if TYPE_CHECKING:
    from connectors.embedded_broker import EmbeddedBroker
    from connectors.simulator import PlantSimulator

log = logging.getLogger(__name__)

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
        self._publisher: MessagePublisher | None = None
        self.error: str | None = None

    def start(self) -> MqttSettings:
        """Start the broker and the simulator; return the MQTT settings to subscribe with."""
        # imported here: the embedded broker and the simulator are only the demo's adapters
        from connectors.embedded_broker import EmbeddedBroker
        from connectors.simulator import PlantSimulator

        mqtt = self._mqtt
        if mqtt.host is None:
            self.broker = EmbeddedBroker()
            port = self.broker.start()
            mqtt = mqtt.model_copy(update={"host": "127.0.0.1", "port": port, "tls": False})
        self._publisher = make_publisher(mqtt, f"{mqtt.client_id}-simulator"[:64], timeout_s=10.0)
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
        from connectors.simulator import run_publisher

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


def add_parsers(commands: Any) -> None:
    """Add the demo command to the CLI's sub-parsers."""
    demo = commands.add_parser(
        "demo", help="ingest the sample plant into a demo data dir and ask questions"
    )
    demo.add_argument(
        "-q",
        "--question",
        action="append",
        default=[],
        help="answer this question and exit (repeatable) instead of the interactive loop",
    )
    demo.add_argument(
        "--headless",
        action="store_true",
        help="run the live plant and record its alarms, without the UI, until Ctrl-C",
    )
    demo.add_argument(
        "--fault-after",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds until strainer ST-101 starts clogging (default 60)",
    )
    demo.add_argument(
        "--fault-ramp",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds the clogging takes to reach full severity (default 120)",
    )
    demo.add_argument(
        "--operator", metavar="NAME", help="your name in the terminal UI (default tui.operator)"
    )
    demo.add_argument(
        "--wait",
        type=float,
        default=5.0,
        help="with -q: seconds of live data to collect before answering (default 5)",
    )


def _run_until_stopped(live_plant: Any) -> bool:
    """Keep the demo's live plant running until Ctrl-C or SIGTERM; False if it failed."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    err("headless: the live plant runs until Ctrl-C or SIGTERM")
    try:
        while not stop.wait(1.0):
            if live_plant.error:
                err(f"shiftmate: {live_plant.error}")
                return False
    except KeyboardInterrupt:
        pass
    return True


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Ingest the sample plant into <data_dir>/demo, start the live plant and ask questions."""
    if args.fault_after < 0 or args.fault_ramp <= 0:
        raise ConfigError("--fault-after must be 0 or more and --fault-ramp more than 0 seconds")
    demo = demo_settings(settings)
    err(f"Shiftmate demo: Riverbend Water Works sample plant, data in {demo.data_dir}")
    assert demo.plant.file is not None
    plant = load_plant(demo.plant.file)
    live_plant = DemoPlant(
        plant, demo.mqtt, fault_after_s=args.fault_after, fault_ramp_s=args.fault_ramp
    )
    mqtt = live_plant.start()
    where = "embedded broker" if live_plant.broker is not None else "broker"
    err(f"live plant: simulator publishing to the {where} at {mqtt.host}:{mqtt.port}")
    companion = write_companion_config(demo, mqtt)
    err(f"other terminals: shiftmate --config {companion} alarms | draft | workorders ...")
    try:
        with build_services(demo.model_copy(update={"mqtt": mqtt})) as services:
            return _run_demo(services, args, settings, live_plant)
    finally:
        live_plant.stop()


def _run_demo(
    services: Services, args: argparse.Namespace, settings: Settings, live_plant: DemoPlant
) -> int:
    plant = services.require_plant()
    report = run_ingest(services, [SAMPLE_PLANT], prune=True, quiet=False)
    if report.failed:
        return exit_codes.SOME_FAILED
    live = services.start_telemetry()
    events: list[TelemetryEvent] = []
    live.subscribe(events.append)
    err("loading the local model ...")
    services.start(preload=True)
    if args.headless:
        return 0 if _run_until_stopped(live_plant) else 1
    if args.question:
        time.sleep(args.wait)
        for question in args.question:
            print(f"\n> {question}")
            ask_and_print(services, question, None, False)
        return 0
    if sys.stdin.isatty() and sys.stdout.isatty():
        from tui.backend import LocalBackend

        services.start(sync=services.settings.sync.background)
        return run_app(LocalBackend(services), settings, args.operator)
    # Not a terminal (questions piped in): the line-by-line loop, for scripts.
    err(
        "Ask about the plant (for example: 'How do I lock out P-101?' or 'Why is ST-101 "
        "alarming?'). 'status' shows live values, 'alarms' the active alarms, 'new' starts "
        "a new conversation; an empty line or Ctrl-D quits."
    )
    conversation: str | None = None
    while True:
        while events:
            print(f"  * {event_line(events.pop(0))}")
        try:
            question = input("\nshiftmate> ").strip()
        except EOFError:
            print()
            return 0
        if question in ("", "quit", "exit"):
            return 0
        if question == "new":
            conversation = None
        elif question == "status":
            print_table(live.store, plant)
        elif question == "alarms":
            active = live.store.active_events()
            for event in active:
                print(f"  {event_line(event)}")
            if not active:
                print("  no active alarms")
        else:
            try:
                answer = ask_and_print(services, question, conversation, False)
                conversation = answer.conversation_id
            except ChatError as exc:
                err(f"shiftmate: {exc}")
