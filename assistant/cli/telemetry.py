"""The CLI's telemetry commands: telemetry, monitor, simulate and replay (``alarms`` is in
``assistant.cli.alarms``)."""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from typing import Any

from assistant.chat.live import clock_text
from assistant.cli.output import err, out
from assistant.domain import TelemetryEvent
from assistant.errors import ConfigError
from assistant.plant import PlantSpec, load_plant
from assistant.ports import MessagePublisher
from assistant.schema.telemetry import EventOut, TagLine
from assistant.services import Services, build_services, make_publisher
from assistant.settings import Settings
from assistant.telemetry.store import TagStatus, TelemetryStore


def status_row(status: TagStatus) -> dict[str, Any]:
    """Return a tag's status as a JSON-ready row."""
    return TagLine.from_domain(status).model_dump(mode="json")


def print_table(store: TelemetryStore, plant: PlantSpec, asset: str | None = None) -> None:
    """Print the current value table."""
    out(f"{'asset':<8} {'tag':<22} {'value':>10} {'unit':<9} {'state':<15} {'trend':<8} age")
    for spec in plant.assets:
        if asset is not None and spec.id.upper() != asset.upper():
            continue
        for status in store.asset_status(spec.id):
            value = "-" if status.value is None else f"{status.value:.4g}"
            age = "-" if status.age_s is None else f"{status.age_s:.0f} s"
            out(
                f"{status.asset:<8} {status.tag:<22} {value:>10} {status.unit:<9} "
                f"{status.state:<15} {status.trend:<8} {age}"
            )


def event_row(event: TelemetryEvent) -> dict[str, Any]:
    """Return an event as the JSON ``monitor --json`` prints."""
    return EventOut.from_domain(event).model_dump(mode="json")


def event_line(event: TelemetryEvent) -> str:
    """Return an event as one human line."""
    return (
        f"{clock_text(event.ts)}  {event.state.upper():<7} {event.kind:<7} "
        f"{event.level:<7} {event.message}"
    )


def _live_services(settings: Settings, suffix: str, transient: bool) -> Services:
    """Build the services and start listening to the broker; the caller closes them."""
    services = build_services(settings)
    try:
        live = services.start_telemetry(client_id_suffix=suffix, transient=transient)
        connector = live.connector
        if connector is not None and not getattr(connector, "wait_connected", lambda t: True)(10):
            raise ConfigError(
                f"cannot reach the MQTT broker {settings.mqtt.host}:{settings.mqtt.port}: "
                f"{getattr(connector, 'last_error', None) or 'no answer in 10 s'}"
            )
    except BaseException:
        services.close()
        raise
    return services


def cmd_telemetry(settings: Settings, args: argparse.Namespace) -> int:
    """Listen for a few seconds and print the current value of every tag."""
    services = _live_services(settings, f"-cli-{os.getpid()}", transient=True)
    try:
        time.sleep(args.wait)
        live = services.live
        assert live is not None and services.plant is not None
        if args.json:
            import json

            rows = [
                status_row(s)
                for a in services.plant.assets
                if args.asset is None or a.id.upper() == args.asset.upper()
                for s in live.store.asset_status(a.id)
            ]
            out(json.dumps(rows))
        else:
            print_table(live.store, services.plant, args.asset)
        return 0
    finally:
        services.close()


def cmd_monitor(settings: Settings, args: argparse.Namespace) -> int:
    """Print alarm and anomaly events as they happen, then the counters."""
    import json

    services = _live_services(settings, "-monitor", transient=False)
    live = services.live
    assert live is not None
    done = threading.Event()

    def show(event: TelemetryEvent) -> None:
        out(json.dumps(event_row(event)) if args.json else event_line(event))

    unsubscribe = live.subscribe(show)
    err(
        f"monitoring {settings.mqtt.host}:{settings.mqtt.port}"
        + (f" for {args.duration:g} s" if args.duration else " (Ctrl-C to stop)")
    )
    try:
        done.wait(args.duration) if args.duration else done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        unsubscribe()
        status = live.status()
        services.close()
    counters = status["mqtt"]
    if args.json:
        out(json.dumps({"counters": counters, "store": status["store"]}))
    else:
        rejected = {k: v for k, v in counters.items() if k.startswith("rejected_") and v}
        err(
            f"received {counters.get('received', 0)}, accepted {counters.get('accepted', 0)}, "
            f"rejected {sum(rejected.values())}"
            + (
                " (" + ", ".join(f"{k[9:]}: {v}" for k, v in rejected.items()) + ")"
                if rejected
                else ""
            )
        )
    return 0


def _plant_for(settings: Settings, override: Path | None) -> PlantSpec:
    if override is not None:
        return load_plant(override)
    if settings.plant.file is None:
        raise ConfigError("no plant file: give --plant FILE or set plant.file")
    return load_plant(settings.plant.file)


def _publisher(settings: Settings, suffix: str) -> MessagePublisher:
    if settings.mqtt.host is None:
        raise ConfigError("no MQTT broker configured: set mqtt.host (SHIFTMATE_MQTT__HOST)")
    client_id = f"{settings.mqtt.client_id}{suffix}"[:64]
    publisher = make_publisher(settings.mqtt, client_id, timeout_s=10.0)
    publisher.connect()
    return publisher


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    """Publish the simulated plant to the configured broker."""
    from connectors.simulator import PlantSimulator, parse_fault_spec, run_publisher

    plant = _plant_for(settings, args.plant)
    simulator = PlantSimulator(plant, seed=args.seed)
    for spec in args.fault:
        simulator.inject(*parse_fault_spec(spec))
    publisher = _publisher(settings, f"-simulator-{os.getpid()}")
    err(
        f"publishing {plant.name or plant.site} to {settings.mqtt.host}:{settings.mqtt.port} "
        f"at {args.rate:g} Hz, speed {args.speed:g}x"
        + (f", faults: {', '.join(args.fault)}" if args.fault else "")
        + (f" for {args.duration:g} s" if args.duration else " (Ctrl-C to stop)")
    )
    stop = threading.Event()
    try:
        report = run_publisher(
            simulator,
            plant,
            publisher,
            rate_hz=args.rate,
            duration_s=args.duration,
            stop_event=stop,
            speed=args.speed,
        )
    except KeyboardInterrupt:
        stop.set()
        err("stopped")
        return 0
    finally:
        publisher.close()
    err(
        f"published {report.published} messages in {report.steps} steps "
        f"({report.simulated_s:.0f} simulated seconds)"
    )
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Replay a historian CSV export to the configured broker."""
    from connectors.historian import bundled_map, load_column_map, load_historian_csv
    from connectors.replay import replay

    plant = _plant_for(settings, args.plant)
    column_map = None
    if args.map is not None:
        column_map = (
            bundled_map(args.map)
            if not Path(args.map).exists()
            else load_column_map(Path(args.map))
        )
    data = load_historian_csv(args.file, args.asset, column_map, plant)
    err(
        f"{args.file}: {data.rows} rows, separator {data.separator!r}, time column "
        f"'{data.timestamp_column}', {len(data.readings)} readings for "
        f"{', '.join(f'{c}->{t}' for c, t in data.mapped)}"
    )
    if data.unmapped:
        err(f"columns not mapped to any tag (not published): {', '.join(data.unmapped)}")
    if data.skipped_count:
        first = data.skipped[0]
        err(f"{data.skipped_count} rows skipped, first: {first}")
    publisher = _publisher(settings, f"-replay-{os.getpid()}")
    try:
        report = replay(data.readings, plant, publisher, speed=args.speed)
    finally:
        publisher.close()
    err(f"published {report.published} messages in {report.elapsed_s:.1f} s")
    return 0


def add_parsers(commands: Any) -> None:
    """Add the telemetry commands to the CLI's sub-parsers."""
    telemetry = commands.add_parser("telemetry", help="show the current value of every tag")
    telemetry.add_argument(
        "--wait", type=float, default=3.0, help="seconds to listen before printing (default 3)"
    )
    telemetry.add_argument("--asset", help="only this asset")
    telemetry.add_argument("--json", action="store_true")

    monitor = commands.add_parser("monitor", help="print alarm and anomaly events live")
    monitor.add_argument("--duration", type=float, help="stop after this many seconds")
    monitor.add_argument("--json", action="store_true", help="one JSON object per event")

    simulate = commands.add_parser("simulate", help="publish a simulated plant to the broker")
    simulate.add_argument("--rate", type=float, default=1.0, help="steps per second (1)")
    simulate.add_argument("--speed", type=float, default=1.0, help="simulated s per real s")
    simulate.add_argument("--duration", type=float, help="stop after this many seconds")
    simulate.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject FAULT@ASSET[+SECONDS][*SEVERITY][~RAMP], e.g. "
        "cavitation@P-101+120 (faults: cavitation, bearing_wear, "
        "clogging_strainer, cooler_fouling, air_leak)",
    )
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--plant", type=Path, help="plant file (default plant.file)")

    replay = commands.add_parser("replay", help="replay a historian CSV export to the broker")
    replay.add_argument("file", type=Path, metavar="FILE.csv")
    replay.add_argument("--asset", required=True, help="the asset the columns belong to")
    replay.add_argument("--map", help="column-to-tag map (TOML/JSON file, or 'skab')")
    replay.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="time compression (1 = as recorded, 0 = as fast as possible)",
    )
    replay.add_argument("--plant", type=Path, help="plant file (default plant.file)")
