"""A separate process that exports work orders from a data dir, for the concurrency tests.

``python -m tests.assistant.workorders.export_worker SETTINGS_JSON NAME IDS...`` builds real
services from the settings, writes ``<data_dir>/ready-NAME``, waits for ``<data_dir>/go`` (so
several workers start exporting at the same moment), exports each id with ``--mqtt`` and
prints one JSON line per id: ``{"id": ..., "ok": true}`` or ``{"id": ..., "error": ...}``.

``--crash-before publish|status`` makes the process die (``os._exit``, no clean-up, as a
kill or a power cut would) at that point of its first export: after the JSON file and the CSV
row are written and before the MQTT publish, or after the broker's acknowledgement and before
the status change is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from assistant.errors import ShiftmateError
from assistant.services import build_services
from assistant.settings import load_settings
from assistant.workorders.export import Exporter
from assistant.workorders.store import WorkOrderStore

CRASH_CODE = 17


def _crash(*_args: Any, **_kwargs: Any) -> NoReturn:
    os._exit(CRASH_CODE)


def main() -> int:
    """Export the given work orders once told to go; print each outcome as a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("settings")
    parser.add_argument("name")
    parser.add_argument("ids", nargs="+")
    parser.add_argument("--crash-before", choices=("publish", "status"))
    args = parser.parse_args()
    settings = load_settings(None, json.loads(args.settings))
    if args.crash_before == "publish":
        Exporter._publish = _crash  # type: ignore[method-assign]
    elif args.crash_before == "status":
        WorkOrderStore.mark_exported = _crash  # type: ignore[method-assign]
    data_dir = Path(settings.data_dir)
    with build_services(settings) as services:
        exporter = services.exporter
        (data_dir / f"ready-{args.name}").touch()
        deadline = time.monotonic() + 120
        while not (data_dir / "go").exists():
            if time.monotonic() > deadline:
                return 3
            time.sleep(0.001)
        for order_id in args.ids:
            try:
                exporter.export(order_id, mqtt=True, by=f"worker {args.name}")
            except ShiftmateError as exc:
                print(json.dumps({"id": order_id, "error": str(exc)}), flush=True)
            else:
                print(json.dumps({"id": order_id, "ok": True}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
