"""The terminal as a client of a real ``shiftmate serve`` (uvicorn on a loopback port): the same
screens over the HTTP API, answers streamed as server-sent events."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

import pytest

from assistant.api import create_app
from assistant.api.keys import KeyStore
from assistant.domain import TelemetryEvent, TelemetryLine
from assistant.errors import AuthError, WorkOrderError
from assistant.services import Services
from tests.api.conftest import start_server, stop_server
from tests.tui.conftest import OPERATOR, feed_plant, plant_event, sample_order, settle
from tui.app import MainScreen, ShiftmateApp
from tui.http import HttpBackend, sse_events
from tui.screens.source import SourceScreen
from tui.widgets.alarms import AlarmsPane
from tui.widgets.chat import ChatPane
from tui.widgets.plant import PlantPane
from tui.widgets.status import StatusBar
from tui.widgets.workorders import WorkOrdersPane

AGE = re.compile(r"\(\d+ s ago\)")


@dataclass
class Served:
    """A running API server over the services, with a supervisor's key."""

    url: str
    key: str
    services: Services


@pytest.fixture
def served(tui_services: Services) -> Iterator[Served]:
    """Serve the services over HTTP (keys in their journal) until the test ends."""
    feed_plant(tui_services, now=time.time())
    _ = tui_services.chat
    _, key = KeyStore(tui_services.db).create("supervisor", "terminal")
    server, thread, url = start_server(create_app(tui_services))
    try:
        yield Served(url, key, tui_services)
    finally:
        stop_server(server, thread)


def test_sse_parser_reads_events_ids_and_multiline_data() -> None:
    lines = [": keep-alive", "", "id: 7", "event: alarm", 'data: {"a":', "data: 1}", "", ""]
    assert list(sse_events(iter(lines))) == [("alarm", '{"a":\n1}', "7")]


def test_a_wrong_key_is_an_auth_error_and_a_dead_server_shows_unreachable(served: Served) -> None:
    wrong = HttpBackend(served.url, "not-a-key")
    try:
        with pytest.raises(AuthError):
            wrong.workorders()
    finally:
        wrong.close()
    dead = HttpBackend("http://127.0.0.1:9", "key")
    try:
        status = dead.status()
        assert not status.reachable and status.mode == "client"
    finally:
        dead.close()


@pytest.mark.anyio
async def test_the_terminal_over_the_api(served: Served) -> None:
    backend = HttpBackend(served.url, served.key)
    event = plant_event(served.services)
    served.services.workorders.create(sample_order())
    app = ShiftmateApp(backend, operator=OPERATOR, refresh_s=0.5)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            screen = app.main
            status = str(screen.query_one(StatusBar).render())
            assert "alarms 1 (1 new)" in status and "SERVER UNREACHABLE" not in status
            assert "sync 0 offline" in status  # the server has no uplink configured
            plant = screen.query_one(PlantPane)
            assert len(plant.query_one("#plant-table").rows) == 20  # type: ignore[attr-defined]
            assert list(screen.query_one(AlarmsPane).events) == [event.id]
            # ask: the answer streams over SSE, with its citations
            await pilot.press(*"How do I clean strainer ST-101?", "enter")
            await settle(pilot)
            answer = screen.query_one(ChatPane).last_answer
            assert answer is not None and answer.turn_id > 0
            assert any(c.id.startswith("D") for c in answer.citations)
            await pilot.press("ctrl+o", "enter")
            assert isinstance(app.screen, SourceScreen)
            opened = app.screen.citation
            assert opened.text and opened.spans and opened.quote  # highlighted over HTTP too
            await pilot.press("escape")
            # feedback goes to the server's journal
            await pilot.press("f6", "down", "enter", "ctrl+s")
            await settle(pilot)
            [feedback] = served.services.feedback.for_turn(answer.turn_id)
            assert feedback.rating == "not_helpful" and feedback.by == OPERATOR
            # approve the draft on the server; a second approval is refused and shown
            await pilot.press("f5", "p")
            await settle(pilot)
            order = served.services.workorders.get(sample_order().id)
            assert order.status == "approved" and order.approved_by == OPERATOR
            assert screen.query_one(WorkOrdersPane).orders[order.id].status == "approved"
            assert isinstance(app.screen, MainScreen)
            with pytest.raises(WorkOrderError):
                backend.approve(order.id, OPERATOR)
    finally:
        backend.close()


@pytest.mark.anyio
async def test_an_ack_from_the_terminal_over_the_api_is_recorded_with_its_key(
    served: Served,
) -> None:
    backend = HttpBackend(served.url, served.key)
    event = plant_event(served.services)
    app = ShiftmateApp(backend, operator=OPERATOR, refresh_s=0.5)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            await pilot.press("f4", "a")
            await settle(pilot)
            ack = served.services.alarm_acks.get(event.id)
            assert ack is not None
            assert (ack.by, ack.via, ack.key_name) == (OPERATOR, "api", "terminal")
            assert app.main.acks == {event.id: ack}
            assert "new" not in str(app.main.query_one(StatusBar).render())
    finally:
        backend.close()


@pytest.mark.parametrize(
    "question",
    ["How do I clean strainer ST-101?", "What is the unload pressure of compressor C-3?"],
    ids=["procedure", "quotes"],
)
def test_an_answer_over_the_api_is_the_answer_in_process(served: Served, question: str) -> None:
    local = served.services.chat.ask(question)
    backend = HttpBackend(served.url, served.key)
    pieces: list[str] = []
    try:
        remote = backend.ask(question, None, pieces.append, threading.Event())
    finally:
        backend.close()
    assert pieces and remote.turn_id > local.turn_id
    quoted = [c for c in remote.citations if c.quote]
    assert quoted, remote.text
    for c in quoted:
        assert c.start is not None and c.end is not None
        assert c.quote == c.text[c.start : c.end] and c.spans and c.chunk_id
    # Every field of the answer is the same, citations and their quote spans included, but
    # for what a second turn has of its own: its conversation, id and timings (and the live
    # lines' "(1 s ago)": the second answer may read them a second later). That each field
    # crosses the wire at all, with values unlike the defaults, tests/schema shows.
    own = ("conversation_id", "turn_id", "timings")
    expected = asdict(
        replace(local, telemetry=tuple(_aged(t, remote.telemetry) for t in local.telemetry))
    )
    got = asdict(remote)
    for name in own:
        del expected[name], got[name]
    assert remote.citations == local.citations
    assert got == expected


def _aged(line: TelemetryLine, remote: tuple[TelemetryLine, ...]) -> TelemetryLine:
    """Return the local line with the age the remote line of the same id states."""
    twin = next(t for t in remote if t.id == line.id)
    age = AGE.search(twin.text)
    return replace(line, text=AGE.sub(age.group(0), line.text) if age else line.text)


def test_alarm_events_stream_to_a_subscriber(served: Served) -> None:
    backend = HttpBackend(served.url, served.key)
    seen: list[TelemetryEvent] = []
    arrived = threading.Event()

    def listener(event: TelemetryEvent) -> None:
        seen.append(event)
        arrived.set()

    stop = backend.subscribe(listener)
    try:
        # each feed clears and raises the ST-101 alarm again; the stream may still be opening
        for minute in range(1, 31):
            feed_plant(served.services, now=time.time() + 120 * minute)
            if arrived.wait(1.0):
                break
        assert seen, "no alarm event came over /v1/events"
        assert {e.asset for e in seen} == {"ST-101"}
    finally:
        stop()
        backend.close()
