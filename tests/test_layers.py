"""The import graph points one way: models at the bottom, connectors beside the core, edges on top.

Read from the source with ``ast`` (nothing is imported), so a lazy import inside a function
counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CONNECTORS_MAY_IMPORT = (
    "assistant.domain",
    "assistant.errors",
    "assistant.plant",
    "assistant.settings",
    "assistant.schema",
)


def imports_of(package: str) -> Iterator[tuple[str, str]]:
    """Yield (file, imported module) for every import under a top-level package."""
    for source in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield str(source.relative_to(ROOT)), alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield str(source.relative_to(ROOT)), node.module


def under(module: str, prefix: str) -> bool:
    """Return whether a dotted module name is prefix or inside it."""
    return module == prefix or module.startswith(prefix + ".")


def test_models_import_nothing_from_the_rest() -> None:
    offenders = [
        (f, m)
        for f, m in imports_of("models")
        if any(under(m, p) for p in ("assistant", "connectors", "tui"))
    ]
    assert offenders == []


def test_connectors_import_only_domain_types_plant_settings_and_schema() -> None:
    offenders = [
        (f, m)
        for f, m in imports_of("connectors")
        if (under(m, "assistant") and not any(under(m, p) for p in CONNECTORS_MAY_IMPORT))
        or under(m, "tui")
    ]
    assert offenders == []


@pytest.mark.parametrize("package", ["assistant", "connectors", "models", "tui"])
def test_nothing_outside_the_cli_imports_it(package: str) -> None:
    offenders = [
        (f, m)
        for f, m in imports_of(package)
        if under(m, "assistant.cli") and not f.startswith("assistant/cli/")
    ]
    assert offenders == []


def test_only_the_mqtt_connector_imports_paho() -> None:
    offenders = [
        (f, m)
        for package in ("assistant", "connectors", "models", "tui")
        for f, m in imports_of(package)
        if under(m, "paho") and not f.startswith("connectors/mqtt/")
    ]
    assert offenders == []


def test_only_the_composition_root_and_the_cli_pick_adapters() -> None:
    # The CLI's tools (simulate, replay, the demo's embedded broker, the cloud subscriber) are
    # adapters by their nature; everything else gets its adapters from assistant.services.
    edges = ("assistant/services.py", "assistant/cli/")
    offenders = [
        (f, m)
        for package in ("assistant", "tui")
        for f, m in imports_of(package)
        if under(m, "connectors") and not f.startswith(edges)
    ]
    assert offenders == []
