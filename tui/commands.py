"""The ``shiftmate tui`` command: the operator terminal, in-process or as an API client."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from assistant.services import Services, build_services
from assistant.settings import Settings
from tui.backend import Backend, LocalBackend


def add_parsers(commands: Any) -> None:
    """Add the tui command to the CLI's sub-parsers."""
    tui = commands.add_parser(
        "tui", help="the operator terminal: chat, live plant, alarms, work orders"
    )
    tui.add_argument(
        "--server", metavar="URL", help="be a client of a running 'shiftmate serve' at URL"
    )
    tui.add_argument("--key", metavar="KEY", help="with --server: the API key (Bearer)")
    add_operator_option(tui)


def add_operator_option(parser: argparse.ArgumentParser) -> None:
    """Add --operator NAME (the name recorded with approvals, drafts and feedback)."""
    parser.add_argument(
        "--operator",
        metavar="NAME",
        help="your name, recorded with approvals, drafts and feedback (default tui.operator, "
        "else the OS user)",
    )


def run_app(backend: Backend, settings: Settings, operator: str | None) -> int:
    """Run the terminal UI over a backend until the operator quits."""
    from tui.app import ShiftmateApp

    app = ShiftmateApp(
        backend, operator=operator or settings.tui.operator, refresh_s=settings.tui.refresh_s
    )
    app.run()
    return 0


def local_services(settings: Settings) -> Services:
    """Build the services, start live telemetry when a plant and broker are set, load the model."""
    services = build_services(settings)
    try:
        if services.plant is not None and settings.mqtt.host is not None:
            # a stable client id: the broker keeps what arrives while the terminal restarts
            services.start_telemetry(client_id_suffix="-tui")
        print("loading the local model ...", file=sys.stderr, flush=True)
        _ = services.chat
    except BaseException:
        services.close()
        raise
    return services


def cmd_tui(settings: Settings, args: argparse.Namespace) -> int:
    """Open the operator terminal over local services or a running API server."""
    if args.server:
        from tui.http import HttpBackend

        if not args.key:
            from assistant.errors import ConfigError

            raise ConfigError("--server needs --key KEY (an API key of that server)")
        backend = HttpBackend(args.server, args.key)
        try:
            return run_app(backend, settings, args.operator)
        finally:
            backend.close()
    services = local_services(settings)
    stop_sync = services.sync.start_background() if settings.sync.background else None
    try:
        return run_app(LocalBackend(services), settings, args.operator)
    finally:
        if stop_sync is not None:
            stop_sync()
        services.close()
