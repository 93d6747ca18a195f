"""The ``shiftmate tui`` command: the operator terminal, in-process or as an API client."""

from __future__ import annotations

import argparse
from typing import Any

from assistant.cli.output import err
from assistant.errors import ConfigError
from assistant.services import build_services
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


def cmd_tui(settings: Settings, args: argparse.Namespace) -> int:
    """Open the operator terminal over local services or a running API server."""
    if args.server:
        from tui.http import HttpBackend

        if not args.key:
            raise ConfigError("--server needs --key KEY (an API key of that server)")
        backend = HttpBackend(args.server, args.key)
        try:
            return run_app(backend, settings, args.operator)
        finally:
            backend.close()
    with build_services(settings) as services:
        err("loading the local model ...")
        # a stable client id: the broker keeps what arrives while the terminal restarts
        services.start(telemetry="-tui", preload=True, sync=settings.sync.background)
        return run_app(LocalBackend(services), settings, args.operator)
