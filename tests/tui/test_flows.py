"""Every operator flow of the terminal, driven by keys through Textual's pilot, over real
services (real model, real journal, real telemetry store) in temp data dirs."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from textual.containers import VerticalScroll
from textual.content import Content
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from assistant.domain import Answer, Citation, Timings
from assistant.services import Services
from tests.conftest import ServicesFactory
from tests.tui.conftest import (
    OPERATOR,
    PLANT_FILE,
    feed_plant,
    make_app,
    plant_event,
    sample_order,
    settle,
)
from tui.app import MainScreen, ShiftmateApp
from tui.format import QUOTE_STYLE
from tui.screens.alarm import AlarmScreen
from tui.screens.feedback import FeedbackScreen
from tui.screens.help import KEYS, HelpScreen
from tui.screens.source import QUOTE_STYLE as HIGHLIGHT
from tui.screens.source import SourceScreen, quoted_spans
from tui.screens.workorder import EditScreen, TextPrompt, WorkOrderScreen
from tui.widgets.alarms import AlarmsPane
from tui.widgets.chat import ChatPane
from tui.widgets.plant import PlantPane
from tui.widgets.status import StatusBar
from tui.widgets.workorders import WorkOrdersPane

pytestmark = pytest.mark.anyio

QUESTION = "How do I clean strainer ST-101?"


def text(widget: Static) -> str:
    """Return the plain text a Static shows."""
    return str(widget.render())


async def ask(pilot: Pilot[None], question: str) -> None:
    """Type a question, press Enter and wait for the answer."""
    await pilot.press(*question)
    await pilot.press("enter")
    await settle(pilot)


def highlighted(widget: Static) -> list[tuple[int, int]]:
    """Return the (start, end) of the spans a Static shows in the quote highlight."""
    content = widget.render()
    assert isinstance(content, Content)
    return [(s.start, s.end) for s in content.spans if s.style == HIGHLIGHT]


def main(app: ShiftmateApp) -> MainScreen:
    """Return the main screen."""
    return app.main


async def test_ask_streams_an_answer_and_opens_a_cited_passage(tui_services: Services) -> None:
    feed_plant(tui_services)
    app = make_app(tui_services)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "question"
        await ask(pilot, QUESTION)
        chat = main(app).query_one(ChatPane)
        answer = chat.last_answer
        assert answer is not None and answer.turn_id > 0
        documents = [c for c in answer.citations if c.id.startswith("D")]
        assert documents, answer.text
        boxes = list(chat.query(".answer").results(Static))
        shown = [text(w) for w in boxes]
        assert shown and shown[-1] == answer.text
        # the quoted steps are styled as quotes; the code-written live line is not
        content = boxes[-1].render()
        assert isinstance(content, Content)
        quoted = [content.plain[s.start : s.end] for s in content.spans if s.style == QUOTE_STYLE]
        assert quoted and all(q in answer.text for q in quoted)
        assert not any("[T" in q for q in quoted)
        # the sources list names each citation; Ctrl+O focuses it, Enter opens the first
        await pilot.press("ctrl+o")
        assert app.focused is not None and app.focused.id == "sources"
        await pilot.press("enter")
        assert isinstance(app.screen, SourceScreen)
        assert app.screen.citation == documents[0] or app.screen.citation.id.startswith("D")
        body = app.screen.query_one("#source-text", Static)
        assert text(body) == app.screen.citation.text
        # the words the answer quoted are highlighted in the passage
        opened = app.screen.citation
        assert opened.quote and opened.quote == opened.text[opened.start : opened.end]
        assert highlighted(body) == quoted_spans(opened) != []
        note = text(app.screen.query_one("#source-quote", Static))
        assert note.startswith("Quoted in the answer:")
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        # a [T#] source opens the tag's recent values
        lines = [t for t in answer.telemetry]
        assert lines and lines[0].asset == "ST-101"
        main(app).action_open_source(lines[0].id)
        await settle(pilot)
        assert app.screen.__class__.__name__ == "AssetScreen"
        label = text(app.screen.query_one("#trend-label", Static))
        assert "Differential pressure" in label and "61 values" in label


async def test_alarm_opens_drafts_a_work_order_and_it_is_approved(tui_services: Services) -> None:
    feed_plant(tui_services)
    event = plant_event(tui_services)
    app = make_app(tui_services)
    async with app.run_test() as pilot:
        await settle(pilot)
        status = text(main(app).query_one(StatusBar))
        assert "alarms 1 (1 new)" in status
        await pilot.press("f4")
        alarms = main(app).query_one(AlarmsPane)
        assert app.focused is alarms.query_one(DataTable)
        assert alarms.selected() == event
        await pilot.press("enter")
        assert isinstance(app.screen, AlarmScreen) and app.screen.event == event
        await pilot.press("d")
        await settle(pilot)
        # the draft opens by itself once the model is done
        assert isinstance(app.screen, WorkOrderScreen), app.screen
        order = app.screen.order
        assert order.asset == "ST-101" and order.alarm_id == event.id
        assert order.created_by == OPERATOR and order.status == "draft"
        assert event.id in main(app).acks  # drafting from it acknowledged it, on record
        ack = tui_services.alarm_acks.get(event.id)
        assert ack is not None and (ack.by, ack.via) == (OPERATOR, "tui")
        await pilot.press("p")  # the one who drafted it may not approve it
        await settle(pilot)
        assert tui_services.workorders.get(order.id).status == "draft"
        assert "new" not in text(main(app).query_one(StatusBar))
    reviewer = make_app(tui_services, operator="Sam Reviewer")
    async with reviewer.run_test() as pilot:
        await settle(pilot)
        await pilot.press("f5")
        main(reviewer).query_one(WorkOrdersPane).select(order.id)
        await pilot.press("p")
        await settle(pilot)
        approved = tui_services.workorders.get(order.id)
        assert approved.status == "approved" and approved.approved_by == "Sam Reviewer"
        assert main(reviewer).query_one(WorkOrdersPane).orders[order.id].status == "approved"


async def test_acknowledge_keeps_the_alarm_but_not_as_new(tui_services: Services) -> None:
    feed_plant(tui_services)
    event = plant_event(tui_services)
    app = make_app(tui_services)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("f4", "a")
        await settle(pilot)
        recorded = tui_services.alarm_acks.get(event.id)
        assert recorded is not None and (recorded.by, recorded.via) == (OPERATOR, "tui")
        assert main(app).acks == {event.id: recorded}
        assert "alarms 1" in text(main(app).query_one(StatusBar))
        assert "new" not in text(main(app).query_one(StatusBar))
        assert list(main(app).query_one(AlarmsPane).events) == [event.id]
        await pilot.press("a")  # again: the first record stands
        await settle(pilot)
        assert tui_services.alarm_acks.get(event.id) == recorded


async def test_an_ack_made_elsewhere_shows_and_the_alarm_names_who(tui_services: Services) -> None:
    feed_plant(tui_services)
    event = plant_event(tui_services)
    app = make_app(tui_services, refresh_s=0.2)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("f4")
        assert "(1 new)" in text(main(app).query_one(StatusBar))
        table = main(app).query_one("#alarm-table", DataTable)
        assert str(table.get_cell_at(Coordinate(0, 0))) == "NEW"
        # the CLI (or the API, or another terminal) acknowledges it in the same journal
        elsewhere = tui_services.alarm_acks.acknowledge(event.id, "night shift", via="cli").ack
        deadline = time.monotonic() + 10
        while event.id not in main(app).acks:
            assert time.monotonic() < deadline, "the terminal never showed the ack"
            await pilot.pause(0.1)
            await settle(pilot)
        assert main(app).acks[event.id] == elsewhere
        assert "new" not in text(main(app).query_one(StatusBar))
        assert str(table.get_cell_at(Coordinate(0, 0))) == "ack"
        await pilot.press("enter")
        assert isinstance(app.screen, AlarmScreen)
        note = " ".join(text(s) for s in app.screen.query(".note").results(Static))
        assert "acknowledged by night shift at" in note
        await pilot.press("a")  # acknowledging again keeps the first record, and says whose
        await settle(pilot)
        assert tui_services.alarm_acks.get(event.id) == elsewhere
        assert isinstance(app.screen, MainScreen)


async def test_work_order_edit_reject_approve_export_by_keys(tui_services: Services) -> None:
    store = tui_services.workorders
    store.create(sample_order("WO-20261118-0001"))
    store.create(sample_order("WO-20261118-0002"))
    app = make_app(tui_services)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("f5")
        pane = main(app).query_one(WorkOrdersPane)
        assert list(pane.orders) == ["WO-20261118-0002", "WO-20261118-0001"]
        # edit the title of the first (newest) one
        await pilot.press("enter")
        assert isinstance(app.screen, WorkOrderScreen)
        await pilot.press("e")
        assert isinstance(app.screen, EditScreen)
        await pilot.press("tab")
        assert isinstance(app.focused, Input) and app.focused.value == sample_order().title
        await pilot.press("home", "ctrl+k", *"Clean ST-101 basket now", "enter")
        await settle(pilot)
        edited = store.get("WO-20261118-0002")
        assert edited.title == "Clean ST-101 basket now" and edited.edited_by == OPERATOR
        # reject the other one with a reason
        await pilot.press("down", "r")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"duplicate of 0002", "enter")
        await settle(pilot)
        rejected = store.get("WO-20261118-0001")
        assert rejected.status == "rejected" and rejected.rejection_reason == "duplicate of 0002"
        # approve and export the edited one; a second export is refused, shown, not raised
        await pilot.press("up", "p")
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        exported = store.get("WO-20261118-0002")
        assert exported.status == "exported" and exported.approved_by == OPERATOR
        assert (tui_services.data_dir / "exports" / "WO-20261118-0002.json").is_file()
        assert pane.orders["WO-20261118-0002"].status == "exported"
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_feedback_on_the_last_answer(tui_services: Services) -> None:
    feed_plant(tui_services)
    app = make_app(tui_services)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f6")  # nothing to rate yet: a warning, no dialog
        assert isinstance(app.screen, MainScreen)
        await ask(pilot, QUESTION)
        answer = main(app).query_one(ChatPane).last_answer
        assert answer is not None
        await pilot.press("f6")
        assert isinstance(app.screen, FeedbackScreen)
        await pilot.press("down", "enter")  # Not helpful
        await pilot.press("tab", "enter", "down", "enter")  # reason: the first one, wrong
        await pilot.press("tab", *"steps out of order")
        await pilot.press("tab", *"Start the standby pump first.")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        [feedback] = tui_services.feedback.for_turn(answer.turn_id)
        assert feedback.rating == "not_helpful" and feedback.reason == "wrong"
        assert feedback.comment == "steps out of order"
        assert feedback.corrected_answer == "Start the standby pump first."
        assert feedback.by == OPERATOR


async def test_stop_a_generation_while_the_ui_stays_responsive(
    make_services: ServicesFactory, plant_template: Path, tmp_path: Path
) -> None:
    # Generative answers wait for the model (extractive ones quote without it).
    shutil.copytree(plant_template, tmp_path / "generative")
    tui_services = make_services(
        "generative", plant={"file": PLANT_FILE}, chat={"answer_mode": "generative"}
    )
    feed_plant(tui_services)
    app = make_app(tui_services)
    model = tui_services.chat_model
    async with app.run_test() as pilot:
        await settle(pilot)
        # the model is busy elsewhere (a draft): the question waits for it
        model.lock.acquire()
        try:
            await pilot.press(*QUESTION, "enter")
            await pilot.pause()
            screen = main(app)
            assert screen.activity == "answering"
            # the screen still answers keys while the worker waits on the model
            await pilot.press("f3")
            assert screen.query_one(PlantPane).has_class("active")
            await pilot.press("f2", "escape")
            assert screen.activity == "stopping"
        finally:
            model.lock.release()
        await settle(pilot)
        chat = screen.query_one(ChatPane)
        assert chat.last_answer is None
        assert text(list(chat.query(".answer").results(Static))[-1]).endswith("(stopped)")
        assert screen.activity is None
        assert tui_services.journal.conversations() == []  # a stopped answer is not journaled
        # and the next question is answered normally
        await ask(pilot, QUESTION)
        assert chat.last_answer is not None and chat.last_answer.citations


async def test_help_lists_every_key_and_closes(tui_services: Services) -> None:
    app = make_app(tui_services)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-table", DataTable)
        assert table.row_count == len(KEYS)
        listed = {key for _, keys, _ in KEYS for key in keys.split(" / ")}
        classes = [
            MainScreen,
            ChatPane,
            PlantPane,
            AlarmsPane,
            WorkOrdersPane,
            FeedbackScreen,
        ]
        for cls in classes:
            for binding in cls.BINDINGS:
                for key in binding.key.split(","):  # type: ignore[union-attr]
                    assert key in listed, f"{cls.__name__}: {key} is not in the help"
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_bad_states_are_shown_plainly(make_services: ServicesFactory) -> None:
    # no documents ingested, a broker that is not there, and telemetry gone stale
    services = make_services(
        "empty",
        plant={"file": PLANT_FILE},
        mqtt={"host": "127.0.0.1", "port": 9, "client_id": "tui-bad-states"},
    )
    live = services.start_telemetry()
    feed_plant(services, now=time.time())
    live.store.check_stale(now=time.time() + 60)
    app = make_app(services, frozen=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        status = text(main(app).query_one(StatusBar))
        assert "no documents ingested" in status
        assert "broker ok" not in status and "broker:" in status
        assert "stale 20 tags" in status
        assert main(app).has_class("-wide")
        await ask(pilot, "What is the weather like today?")
        notes = [text(w) for w in main(app).query(".warning").results(Static)]
        assert any("No documents are ingested" in n for n in notes)


async def test_a_citation_label_in_the_answer_opens_with_the_mouse(tui_services: Services) -> None:
    citation = Citation("D1", "c1", "/docs/manual.md", "7.3 Cleaning", 4, "Clean the basket.")
    answer = Answer(
        conversation_id="c",
        question="How?",
        text="See [D1].",
        citations=(citation,),
        timings=Timings(1.0, 1.0, 1.0, 1, 1),
        turn_id=1,
    )
    app = make_app(tui_services)
    async with app.run_test() as pilot:
        await settle(pilot)
        chat = main(app).query_one(ChatPane)
        chat.start_turn(answer.question)
        chat.finish_turn(answer)
        await pilot.pause()
        box = list(chat.query(".answer").results(Static))[-1]
        assert await pilot.click(box, offset=(5, 0))
        assert isinstance(app.screen, SourceScreen) and app.screen.citation == citation
        assert "page 4" in text(app.screen.query_one(".dialog-title", Static))


async def test_the_source_screen_scrolls_to_the_highlighted_quote(tui_services: Services) -> None:
    lines = [f"{n}. Check item {n} of the weekly round." for n in range(1, 61)]
    passage = "\n".join(lines)
    spans = tuple((passage.index(line), passage.index(line) + len(line)) for line in lines[39:41])
    start, end = spans[0][0], spans[-1][1]
    citation = Citation(
        "D1",
        "c1",
        "/docs/round.md",
        "Weekly round",
        None,
        passage,
        quote=passage[start:end],
        start=start,
        end=end,
        spans=spans,
    )
    app = make_app(tui_services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(SourceScreen(citation))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SourceScreen)
        assert highlighted(screen.query_one("#source-text", Static)) == list(spans)
        note = text(screen.query_one("#source-quote", Static))
        assert note == "Quoted in the answer: 2 parts, highlighted, on lines 40-41 of 60."
        body = screen.query_one("#source-body", VerticalScroll)
        # the first quoted line (row 39) sits one line below the top of the view
        assert body.scroll_y == 38
        assert body.scroll_y <= 39 < body.scroll_y + body.scrollable_content_region.height
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
