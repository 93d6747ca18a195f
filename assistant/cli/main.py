"""The ``shiftmate`` command line: an edge over the services, like the API and the TUI.

Results go to stdout (JSON with ``--json``); progress, warnings and errors go to stderr. A user
mistake ends with a one-line ``shiftmate: error: ...`` and a non-zero exit code
(``assistant.cli.exit_codes``), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from assistant.cli import (
    alarms,
    config,
    demo,
    exit_codes,
    knowledge,
    serve,
    sync,
    telemetry,
    tui,
    updates,
    workorders,
)
from assistant.errors import ShiftmateError
from models.offline import enforce_offline

COMMAND_GROUPS: tuple[ModuleType, ...] = (
    demo,
    knowledge,
    telemetry,
    alarms,
    workorders,
    serve,
    sync,
    tui,
    config,
    updates,  # after sync and config: it adds to their cloud and models groups
)
"""Each group has ``add_parsers(commands)`` and a ``cmd_<name>(settings, args)`` per command."""


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole command line."""
    parser = argparse.ArgumentParser(
        prog="shiftmate",
        description="Shiftmate: an on-premise plant-floor assistant with cited answers.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (or $SHIFTMATE_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="where all state lives ($SHIFTMATE_DATA_DIR)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    enforce_offline()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from assistant import __version__

        print(f"shiftmate {__version__}")
        return exit_codes.OK
    if args.command is None:
        parser.print_help()
        return exit_codes.USAGE
    try:
        return _dispatch(args)
    except ShiftmateError as exc:
        print(f"shiftmate: error: {exc}", file=sys.stderr)
        return exit_codes.exit_code(exc)
    except KeyboardInterrupt:
        print("shiftmate: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        return exit_codes.OK


def _dispatch(args: argparse.Namespace) -> int:
    from assistant.settings import load_settings

    overrides: dict[str, Any] = {"data_dir": args.data_dir}
    settings = load_settings(args.config, overrides)
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    handler = getattr(args, "handler", None)  # a sub-command added to another's group
    if handler is not None:
        return int(handler(settings, args))
    name = f"cmd_{args.command}"
    group = next(g for g in COMMAND_GROUPS if hasattr(g, name))
    return int(getattr(group, name)(settings, args))


if __name__ == "__main__":
    sys.exit(main())
