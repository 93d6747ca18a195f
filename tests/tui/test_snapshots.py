"""SVG snapshots of the main screens at 80x24 and 160x48, over frozen, deterministic data.

Regenerate after an intended change with
``.venv/bin/python -m pytest tests/tui/test_snapshots.py --snapshot-update`` and look at them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from assistant.domain import Answer, Citation, TelemetryLine, Timings
from assistant.services import Services
from tests.tui.conftest import feed_plant, make_app, sample_order, settle
from tui.app import MainScreen
from tui.widgets.chat import ChatPane

Compare = Callable[..., bool]
SMALL = (80, 24)
LARGE = (160, 48)

STEPS = "1. Start the standby pump.\n2. Close the isolation valves.\n3. Clean the basket."
CLEANING = "Clean the strainer when its differential pressure alarm is raised.\n\n" + STEPS
LIMIT = "Clean the basket when the differential pressure reaches 0.35 bar."
INSPECTION = "\n".join(
    [f"{n}. Check item {n} of the weekly round and note it in the log." for n in range(1, 31)]
    + [LIMIT, "Report any torn basket to the supervisor."]
)
ANSWER = Answer(
    conversation_id="c-snapshot",
    question="How do I clean strainer ST-101?",
    text=(
        "ST-101 differential pressure is 0.38 bar, above its hi alarm limit of 0.35 bar [T1].\n"
        "7.3 Cleaning steps: [D1]\n"
        f"{STEPS}\n"
        f"\u201c{LIMIT}\u201d [D2]"
    ),
    citations=(
        Citation(
            id="D1",
            chunk_id="chunk-1",
            source="/plant/docs/pump-p101-p102-om-manual.md",
            section="Raw Water Pumps > 7. Strainer ST-101 / ST-102 Cleaning > 7.3 Cleaning",
            page=None,
            text=CLEANING,
            quote=STEPS,
            start=CLEANING.index(STEPS),
            end=len(CLEANING),
            spans=tuple(
                (CLEANING.index(step), CLEANING.index(step) + len(step))
                for step in STEPS.split("\n")
            ),
        ),
        Citation(
            id="D2",
            chunk_id="chunk-2",
            source="/plant/docs/strainer-inspection.md",
            section="Strainers > Weekly round",
            page=3,
            text=INSPECTION,
            quote=LIMIT,
            start=INSPECTION.index(LIMIT),
            end=INSPECTION.index(LIMIT) + len(LIMIT),
            spans=((INSPECTION.index(LIMIT), INSPECTION.index(LIMIT) + len(LIMIT)),),
        ),
    ),
    timings=Timings(5.0, 900.0, 2000.0, 0, 0),
    telemetry=(
        TelemetryLine(
            id="T1",
            asset="ST-101",
            tag="differential_pressure",
            value=0.38,
            unit="bar",
            ts=1_795_000_000.0,
            state="hi",
            trend="rising",
            text="[T1] ST-101 Differential pressure: 0.38 bar, HI ALARM (hi limit 0.35 bar)",
        ),
    ),
    turn_id=1,
)


@pytest.fixture
def frozen(tui_services: Services) -> Services:
    """Return services with a minute of fixed readings, the ST-101 alarm and a draft."""
    feed_plant(tui_services)
    tui_services.workorders.create(sample_order())
    return tui_services


def settled(then: Callable[[Pilot[Any]], Awaitable[None]] | None = None) -> Any:
    """Return a run_before that waits for the first refresh, then does ``then``."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        if then is not None:
            await then(pilot)
            await settle(pilot)

    return run_before


def keys(*pressed: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Return a step that presses keys (the workers they start are waited for after)."""

    async def press(pilot: Pilot[Any]) -> None:
        await pilot.press(*pressed)

    return press


async def _answered(pilot: Pilot[Any]) -> None:
    chat = pilot.app.screen.query_one(ChatPane)
    chat.start_turn(ANSWER.question)
    chat.finish_turn(ANSWER)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_chat_with_an_answer(snap_compare: Compare, frozen: Services, size: Any) -> None:
    assert snap_compare(make_app(frozen), terminal_size=size, run_before=settled(_answered))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
async def _source_opened(pilot: Pilot[Any]) -> None:
    await _answered(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    screen.action_open_source("D2")


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_source_with_the_quote_highlighted(
    snap_compare: Compare, frozen: Services, size: Any
) -> None:
    # The passage is scrolled to its quoted sentence, which is highlighted.
    assert snap_compare(make_app(frozen), terminal_size=size, run_before=settled(_source_opened))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_plant(snap_compare: Compare, frozen: Services, size: Any) -> None:
    assert snap_compare(make_app(frozen), terminal_size=size, run_before=settled(keys("f3")))


def test_alarms(snap_compare: Compare, frozen: Services) -> None:
    assert snap_compare(make_app(frozen), terminal_size=SMALL, run_before=settled(keys("f4")))


def test_work_orders(snap_compare: Compare, frozen: Services) -> None:
    assert snap_compare(make_app(frozen), terminal_size=SMALL, run_before=settled(keys("f5")))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_asset_trend(snap_compare: Compare, frozen: Services, size: Any) -> None:
    run_before = settled(keys("f3", "down", "down", "enter"))
    assert snap_compare(make_app(frozen), terminal_size=size, run_before=run_before)


def test_work_order_opened(snap_compare: Compare, frozen: Services) -> None:
    run_before = settled(keys("f5", "enter"))
    assert snap_compare(make_app(frozen), terminal_size=LARGE, run_before=run_before)


def test_help(snap_compare: Compare, frozen: Services) -> None:
    assert snap_compare(make_app(frozen), terminal_size=SMALL, run_before=settled(keys("f1")))
