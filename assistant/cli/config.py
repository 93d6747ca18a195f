"""The CLI's set-up commands: ``config show`` and ``models list|verify``."""

from __future__ import annotations

import argparse
from typing import Any

from assistant.cli import exit_codes
from assistant.cli.output import print_json
from assistant.errors import ModelError
from assistant.services import build_services
from assistant.settings import Settings, to_toml


def add_parsers(commands: Any) -> None:
    """Add the models and config commands to the CLI's sub-parsers."""
    models = commands.add_parser("models", help="list or verify the local models")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    models_list = models_commands.add_parser("list", help="list embedded and configured models")
    models_list.add_argument("--json", action="store_true")
    models_commands.add_parser("verify", help="check the models' sha256 checksums")

    config = commands.add_parser("config", help="show the effective settings")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_commands.add_parser("show", help="print the effective settings")
    show.add_argument("--json", action="store_true", help="JSON instead of TOML")


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    """Print the effective settings as TOML (or JSON)."""
    values = settings.model_dump(mode="json")
    if args.json:
        print_json(values)
    else:
        print(to_toml(values), end="")
    return 0


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    """List or verify the models."""
    from models import registry

    with build_services(settings) as services:
        m = settings.models
        rows = []
        for spec in registry.embedded_specs():
            configured = spec.name in (m.llm, m.embedder)
            rows.append(
                {
                    "name": spec.name,
                    "kind": spec.kind,
                    "embedded": True,
                    "configured": configured,
                    "description": spec.description,
                    "package": spec.distribution,
                    "sha256": spec.sha256,
                }
            )
        for setting, kind in ((m.llm, "llm"), (m.embedder, "embedder")):
            if not any(r["name"] == setting for r in rows):
                rows.append(
                    {
                        "name": setting,
                        "kind": kind,
                        "embedded": False,
                        "configured": True,
                        "description": "user model by path",
                        "package": None,
                        "sha256": m.llm_sha256 if kind == "llm" else None,
                    }
                )
        if args.models_command == "list":
            if args.json:
                print_json(rows)
            else:
                for r in rows:
                    mark = "*" if r["configured"] else " "
                    origin = f"package {r['package']}" if r["embedded"] else "path"
                    print(f"{mark} {r['kind']:<8} {r['name']:<28} {origin}: {r['description']}")
                print("(* = configured in models.llm / models.embedder)")
            return 0
        failures = 0
        for setting, kind, expected in (
            (m.llm, "llm", m.llm_sha256),
            (m.embedder, "embedder", None),
        ):
            resolved = registry.resolve(setting, kind, expected)  # type: ignore[arg-type]
            result = registry.verify(resolved, services.verify_cache)
            status = "ok" if result.ok else "FAILED"
            print(f"{status:<6} {kind:<8} {resolved.name}: {resolved.checksum_file}")
            print(f"       sha256 {result.actual_sha256} ({result.detail})")
            failures += 0 if result.ok else 1
        return exit_codes.EXIT_CODES[ModelError] if failures else 0
