"""Fixtures of the terminal UI tests: real services over the ingested sample plant, fed
deterministic readings (no broker), and the app over them."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from assistant.domain import Reading
from assistant.services import Services
from assistant.workorders.model import WorkOrder, validate
from tests.conftest import SAMPLE_PLANT, ServicesFactory
from tui.app import MainScreen, ShiftmateApp
from tui.backend import LocalBackend

PLANT_FILE = SAMPLE_PLANT / "plant.toml"
T0 = 1_795_000_000.0
"""A fixed "now" (2026-11-18 11:06:40 UTC) for deterministic values, ages and clocks."""
OPERATOR = "tester"


@pytest.fixture
def anyio_backend() -> str:
    """Run the async pilot tests on asyncio (Textual's loop)."""
    return "asyncio"


def feed_plant(services: Services, now: float = T0, seconds: int = 60) -> None:
    """Feed every tag a smooth, deterministic minute of readings; ST-101 clogs into HI alarm."""
    live = services.live
    assert live is not None
    store = live.store
    for i in range(seconds + 1):
        ts = now - seconds + i
        phase = i / seconds
        for asset in store.plant.assets:
            for tag in asset.tags:
                if asset.id == "ST-101" and tag.id == "differential_pressure":
                    value = 0.12 + 0.26 * phase  # crosses the 0.35 bar hi limit
                elif tag.normal is not None:
                    low, high = tag.normal
                    wave = ((i * 7 + len(tag.id)) % 11) / 10
                    value = low + (high - low) * (0.35 + 0.3 * wave)
                else:
                    value = 1.0 + (i % 5) / 10
                store.add(Reading(asset.id, tag.id, round(value, 4), ts, tag.unit))


def plant_event(services: Services) -> Any:
    """Return the raised ST-101 alarm the feed produced."""
    live = services.live
    assert live is not None
    events = [e for e in live.store.active_events("ST-101") if e.kind == "limit"]
    assert events, "the feed raised no ST-101 alarm"
    return events[0]


def sample_order(order_id: str = "WO-20261118-0001") -> WorkOrder:
    """Return a fixed draft work order for ST-101 (what a draft looks like, with fixed times)."""
    return validate(
        {
            "id": order_id,
            "asset": "ST-101",
            "title": "Clean strainer ST-101 basket",
            "problem": "Differential pressure across ST-101 is above its hi limit of 0.35 bar.",
            "suspected_cause": "Debris collected in the strainer basket.",
            "priority": "medium",
            "priority_reason": "HI alarm on differential pressure.",
            "steps": ("Start the standby pump", "Isolate ST-101", "Clean the basket"),
            "estimated_duration_h": 2.0,
            "created_by": "night shift",
            "created_at": "2026-11-18T09:40:00+00:00",
        }
    )


@pytest.fixture
def tui_services(make_services: ServicesFactory, plant_template: Path, tmp_path: Path) -> Services:
    """Return services over a private copy of the ingested sample plant, with the plant file."""
    shutil.copytree(plant_template, tmp_path / "tui")
    return make_services("tui", plant={"file": PLANT_FILE})


def make_app(
    services: Services,
    *,
    frozen: bool = True,
    refresh_s: float = 0.5,
    operator: str = OPERATOR,
) -> ShiftmateApp:
    """Return the app over local services (with the clock frozen at T0 when asked)."""
    backend = LocalBackend(services, clock=(lambda: T0) if frozen else time.time)
    return ShiftmateApp(backend, operator=operator, refresh_s=refresh_s)


def main_screen(app: ShiftmateApp) -> MainScreen:
    """Return the app's main screen."""
    return app.main


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until every worker started so far is done and its results are drawn."""
    for worker in list(pilot.app.workers):
        with contextlib.suppress(WorkerCancelled):  # superseded by a newer one
            await worker.wait()
    await pilot.pause()
