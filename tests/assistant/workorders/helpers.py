"""Feed readings into a live store so alarms are raised and recorded in the history."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from assistant.domain import Reading, TelemetryEvent
from assistant.services import Services
from tests.conftest import SAMPLE_PLANT, ServicesFactory

PLANT_FILE = SAMPLE_PLANT / "plant.toml"
PUMPS = ("P-101", "P-102")


def plant_services(
    make_services: ServicesFactory, template: Path, tmp_path: Path, name: str, **overrides: object
) -> Services:
    """Return services over a copy of the ingested sample plant, with the plant file."""
    shutil.copytree(template, tmp_path / name)
    return make_services(name, plant={"file": PLANT_FILE}, **overrides)


def raise_alarm(
    services: Services, asset: str, tag: str, start: float, end: float, unit: str = ""
) -> TelemetryEvent:
    """Ramp one tag from start to end over 40 s of readings; return the last raised event."""
    live = services.live
    assert live is not None
    store = live.store
    now = time.time() - 40
    for i in range(41):
        ts = now + i
        if asset in PUMPS:
            store.add(Reading(asset, "motor_current", 90.0, ts, "A"))
        store.add(Reading(asset, tag, start + (end - start) * i / 40, ts, unit))
    raised = [
        e
        for e in services.alarm_history.recent(200, asset)
        if e.tag == tag and e.state == "raised" and e.kind == "limit"
    ]
    assert raised, f"no alarm raised on {asset} {tag}"
    return raised[0]
