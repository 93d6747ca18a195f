"""The ``shiftmate`` command line: a thin layer over the services.

Results go to stdout (JSON with ``--json``); progress, warnings and errors go to stderr. A user
mistake ends with a one-line ``shiftmate: error: ...`` and a non-zero exit code, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from models.offline import enforce_offline

# Modules that add their own sub-commands: each has add_parsers(commands) and cmd_<name>(settings,
# args) handlers. The core commands live in assistant.commands.
COMMAND_MODULES: tuple[str, ...] = (
    "assistant.telemetry_commands",
    "assistant.workorder_commands",
    "assistant.api_commands",
    "assistant.sync_commands",
    "tui.commands",
)


def _command_modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in COMMAND_MODULES]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shiftmate",
        description="Shiftmate: an on-premise plant-floor assistant with cited answers.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (or $SHIFTMATE_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="where all state lives ($SHIFTMATE_DATA_DIR)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

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

    ingest = commands.add_parser("ingest", help="add or update documents (files or folders)")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument(
        "--prune",
        action="store_true",
        help="also remove indexed files under PATH that no longer exist",
    )
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")

    docs = commands.add_parser("docs", help="list or remove ingested documents")
    docs_commands = docs.add_subparsers(dest="docs_command", metavar="ACTION", required=True)
    docs_list = docs_commands.add_parser("list", help="list ingested documents")
    docs_list.add_argument("--json", action="store_true")
    docs_remove = docs_commands.add_parser("remove", help="remove a document from the index")
    docs_remove.add_argument("path")

    search = commands.add_parser("search", help="show the passages that match questions")
    search.add_argument("queries", nargs="+", metavar="QUESTION")
    search.add_argument("-k", type=int, default=5, help="passages per question (default 5)")
    search.add_argument("--json", action="store_true", help="one JSON object per question")

    ask = commands.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    ask.add_argument("--conversation", metavar="ID", help="continue this conversation")
    ask.add_argument("-k", type=int, help="passages to retrieve (default chat.top_k)")
    ask.add_argument(
        "--listen",
        type=float,
        default=3.0,
        metavar="S",
        help="with a plant and broker configured: seconds of live data to collect first (3)",
    )

    from assistant.feedback import RATINGS, REASONS

    feedback = commands.add_parser("feedback", help="rate an answer (by the number ask prints)")
    feedback.add_argument("turn_id", type=int, metavar="ANSWER", help="the answer's number")
    feedback.add_argument("--rating", required=True, choices=RATINGS)
    feedback.add_argument("--reason", default="", choices=[r for r in REASONS if r])
    feedback.add_argument("--comment", default="", help="what was wrong or helpful")
    feedback.add_argument("--correction", default="", help="the answer it should have given")
    feedback.add_argument("--by", required=True, help="your name")

    models = commands.add_parser("models", help="list or verify the local models")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    models_list = models_commands.add_parser("list", help="list embedded and configured models")
    models_list.add_argument("--json", action="store_true")
    models_commands.add_parser("verify", help="check the models' sha256 checksums")

    for module in _command_modules():
        module.add_parsers(commands)

    config = commands.add_parser("config", help="show the effective settings")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_commands.add_parser("show", help="print the effective settings")
    show.add_argument("--json", action="store_true", help="JSON instead of TOML")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    enforce_offline()
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        from assistant import __version__

        print(f"shiftmate {__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    from assistant.errors import ShiftmateError

    try:
        return _dispatch(args)
    except ShiftmateError as exc:
        print(f"shiftmate: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("shiftmate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    from assistant import commands
    from assistant.settings import load_settings

    overrides: dict[str, Any] = {"data_dir": args.data_dir}
    settings = load_settings(args.config, overrides)
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    name = f"cmd_{args.command}"
    module = next((m for m in _command_modules() if hasattr(m, name)), commands)
    handler = getattr(module, name)
    return int(handler(settings, args))


if __name__ == "__main__":
    sys.exit(main())
