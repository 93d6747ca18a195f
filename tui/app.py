"""The operator terminal: one screen with chat, plant, alarms and work orders, and a status bar.

Nothing blocking runs on the event loop: the model, the journal, the broker's data and the HTTP
API are reached from ``@work(thread=True)`` workers that hand their results back with
``call_from_thread``. An answer streams in as it is checked and can be stopped (Esc) through the
``cancel`` event the ask service polls between tokens.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Tab, Tabs

from assistant.domain import Answer, Citation, TelemetryEvent
from assistant.errors import ShiftmateError
from assistant.telemetry.acks import AlarmAck
from assistant.workorders.model import WorkOrder
from models.chat import GenerationCancelled
from tui.backend import AssetView, Backend, StatusView
from tui.format import clock
from tui.screens.alarm import AlarmChoice, AlarmScreen
from tui.screens.asset import AssetScreen
from tui.screens.feedback import FeedbackForm, FeedbackScreen
from tui.screens.help import HelpScreen
from tui.screens.source import SourceScreen
from tui.screens.workorder import (
    EditScreen,
    FieldEdit,
    OrderAction,
    TextPrompt,
    WorkOrderScreen,
)
from tui.widgets.alarms import AlarmsPane
from tui.widgets.chat import ChatPane
from tui.widgets.plant import PlantPane
from tui.widgets.status import StatusBar
from tui.widgets.workorders import WorkOrdersPane

PANES = ("chat", "plant", "alarms", "orders")
TAB_LABELS = {"chat": "Chat F2", "plant": "Plant F3", "alarms": "Alarms F4", "orders": "Orders F5"}
WIDE = (150, 40)
"""From this terminal size on (columns, rows) all panes are shown side by side."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the periodic refresh reads in one worker run."""

    status: StatusView
    assets: list[AssetView]
    alarms: list[TelemetryEvent]
    acks: dict[str, AlarmAck]
    orders: list[WorkOrder]


class MainScreen(Screen[None]):
    """The panes, the tabs that choose one on a small terminal, the status bar and the keys."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("f1", "help", "Help", priority=True),
        Binding("f2", "show_pane('chat')", "Chat", priority=True),
        Binding("f3", "show_pane('plant')", "Plant", priority=True),
        Binding("f4", "show_pane('alarms')", "Alarms", priority=True),
        Binding("f5", "show_pane('orders')", "Orders", priority=True),
        Binding("f6", "feedback", "Rate answer", priority=True),
        Binding("escape", "stop", "Stop answer", show=False),
    ]

    @dataclass
    class AlarmArrived(Message):
        """A telemetry event came in from the live pipeline (posted from its thread)."""

        event: TelemetryEvent

    def __init__(self, backend: Backend, operator: str, refresh_s: float) -> None:
        super().__init__()
        self.backend = backend
        self.operator = operator
        self.refresh_s = refresh_s
        self.pane = "chat"
        self.acks: dict[str, AlarmAck] = {}
        """The journal's acknowledgements of the active alarms (made here or elsewhere)."""
        self.activity: str | None = None
        self.status: StatusView | None = None
        self.assets: list[AssetView] = []
        self.alarms: list[TelemetryEvent] = []
        self._cancel: threading.Event | None = None
        self._unsubscribe: Any = None
        self._polling = False
        self._notified: set[tuple[str, str, str, str]] = set()

    # ---- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Lay out the tabs, the four panes, the status bar and the footer."""
        yield Tabs(*(Tab(TAB_LABELS[p], id=f"tab-{p}") for p in PANES), id="nav")
        with Container(id="main"):
            yield ChatPane(id="chat", classes="pane active")
            yield PlantPane(id="plant", classes="pane")
            yield AlarmsPane(id="alarms", classes="pane")
            yield WorkOrdersPane(id="orders", classes="pane")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Start listening for alarms, refresh now and then every refresh_s seconds."""
        self._unsubscribe = self.backend.subscribe(self._event_from_thread)
        self.query_one("#question", Input).focus()
        self.refresh_data()
        self.set_interval(self.refresh_s, self.refresh_data)

    def on_unmount(self) -> None:
        """Stop listening for alarms and stop any answer being generated."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._cancel is not None:
            self._cancel.set()

    def on_resize(self, event: Resize) -> None:
        """Show every pane at once on a large terminal, one at a time on a small one."""
        self.set_class(event.size.width >= WIDE[0] and event.size.height >= WIDE[1], "-wide")

    @property
    def wide(self) -> bool:
        """Return whether all panes are shown side by side."""
        return self.has_class("-wide")

    @on(Tabs.TabActivated, "#nav")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab.id is not None:
            self._activate(event.tab.id.removeprefix("tab-"), focus=False)

    def action_show_pane(self, pane: str) -> None:
        """Show a pane (on a small terminal the others hide) and focus it."""
        self._activate(pane, focus=True)

    def _activate(self, pane: str, focus: bool) -> None:
        self.pane = pane
        for name in PANES:
            self.query_one(f"#{name}").set_class(name == pane, "active")
        tabs = self.query_one("#nav", Tabs)
        if tabs.active != f"tab-{pane}":
            tabs.active = f"tab-{pane}"
        if focus:
            target = {
                "chat": "#question",
                "plant": "#plant-table",
                "alarms": "#alarm-table",
                "orders": "#order-table",
            }[pane]
            self.query_one(target).focus()

    # ---- periodic refresh and alarms -------------------------------------------------------

    def refresh_data(self) -> None:
        """Read status, values, alarms and work orders in a worker (one at a time)."""
        if not self._polling:
            self._polling = True
            self._poll()

    @work(thread=True, group="poll", exit_on_error=False)
    def _poll(self) -> None:
        try:
            alarms = self.backend.alarms()
            snapshot = Snapshot(
                self.backend.status(),
                self.backend.assets(),
                alarms,
                self.backend.acks([e.id for e in alarms]),
                self.backend.workorders(),
            )
        except ShiftmateError as exc:
            self.app.call_from_thread(self._poll_failed, str(exc))
            return
        self.app.call_from_thread(self._apply, snapshot)

    def _poll_failed(self, message: str) -> None:
        self._polling = False
        self.status = None
        self.query_one(StatusBar).update(f"cannot read the assistant's state: {message}")

    def _apply(self, snapshot: Snapshot) -> None:
        self._polling = False
        self.status = snapshot.status
        self.assets = snapshot.assets
        self.alarms = snapshot.alarms
        # an ack recorded here after the snapshot was read stays: acks are never withdrawn
        active = {e.id for e in self.alarms}
        kept = {i: a for i, a in self.acks.items() if i in active}
        self.acks = {**kept, **snapshot.acks}
        self.query_one(PlantPane).show(snapshot.assets)
        self.query_one(WorkOrdersPane).show(snapshot.orders)
        self._show_alarms()

    def _new_alarms(self) -> int:
        return sum(1 for e in self.alarms if e.id not in self.acks)

    def _show_alarms(self) -> None:
        self.query_one(AlarmsPane).show(self.alarms, self.acks)
        new = self._new_alarms()
        self.query_one("#tab-alarms", Tab).label = (
            f"Alarms F4 ({new} new)" if new else TAB_LABELS["alarms"]
        )
        self._show_status()

    def _show_status(self) -> None:
        self.query_one(StatusBar).show(
            self.status, self.activity, self._new_alarms(), self.operator
        )

    def _event_from_thread(self, event: TelemetryEvent) -> None:
        """Hand an event from the telemetry thread to the event loop (never blocks it)."""
        self.post_message(self.AlarmArrived(event))

    def on_main_screen_alarm_arrived(self, message: AlarmArrived) -> None:
        """Show a raised alarm at once; cleared ones leave the list."""
        event = message.event
        if event.state == "raised":
            self.alarms = [*(e for e in self.alarms if e.id != event.id), event]
            key = (event.asset, event.tag, event.kind, event.level)
            if event.kind != "stale" and key not in self._notified:  # one toast per alarm
                self._notified.add(key)
                self.notify(event.message, title=f"ALARM {event.asset}", severity="error")
        else:
            self.alarms = [
                e
                for e in self.alarms
                if (e.asset, e.tag, e.kind, e.level)
                != (event.asset, event.tag, event.kind, event.level)
            ]
        self._show_alarms()

    # ---- chat ------------------------------------------------------------------------------

    def on_chat_pane_asked(self, message: ChatPane.Asked) -> None:
        """Ask the question in a worker, unless an answer is still coming."""
        if self._cancel is not None:
            self.notify("An answer is still being generated: Esc stops it.", severity="warning")
            return
        chat = self.query_one(ChatPane)
        if self.status is not None and self.status.documents == 0:
            chat.note(
                "No documents are ingested, so answers can only use live values: "
                "run 'shiftmate ingest PATH'.",
                warning=True,
            )
        if self.status is not None and self.status.model_busy:
            chat.note("The model is busy (a draft or another answer); this answer waits.")
        chat.start_turn(message.question)
        self._cancel = threading.Event()
        self.activity = "answering"
        self._show_status()
        self._ask(chat, message.question, chat.conversation_id, self._cancel)

    @work(thread=True, group="ask", exit_on_error=False)
    def _ask(
        self, chat: ChatPane, question: str, conversation: str | None, cancel: threading.Event
    ) -> None:
        def on_token(piece: str) -> None:
            self.app.call_from_thread(chat.add_piece, piece)

        try:
            answer = self.backend.ask(question, conversation, on_token, cancel)
        except GenerationCancelled:
            self.app.call_from_thread(self._asked, None, "stopped")
        except ShiftmateError as exc:
            self.app.call_from_thread(self._asked, None, f"failed: {exc}")
        else:
            self.app.call_from_thread(self._asked, answer, "")

    def _asked(self, answer: Answer | None, note: str) -> None:
        chat = self.query_one(ChatPane)
        if answer is not None:
            chat.finish_turn(answer)
        else:
            chat.end_turn(note)
        self._cancel = None
        self.activity = None
        self._show_status()

    def action_stop(self) -> None:
        """Stop the answer being generated."""
        if self._cancel is not None:
            self._cancel.set()
            self.activity = "stopping"
            self._show_status()

    def on_chat_pane_source_chosen(self, message: ChatPane.SourceChosen) -> None:
        """Open a cited passage or a cited tag."""
        self.action_open_source(message.label)

    def action_open_source(self, label: str) -> None:
        """Open what an answer's [D#] or [T#] label points to."""
        source = self.query_one(ChatPane).sources.get(label)
        if source is None:
            self.notify(f"{label} is not a source of the last answer.", severity="warning")
        elif isinstance(source, Citation):
            self.app.push_screen(SourceScreen(source))
        else:
            self._open_asset(source.asset, source.tag)

    def action_feedback(self) -> None:
        """Rate the last answer."""
        answer = self.query_one(ChatPane).last_answer
        if answer is None or not answer.turn_id:
            self.notify("No answer to rate yet: ask a question first.", severity="warning")
            return

        def send(form: FeedbackForm | None) -> None:
            if form is not None:
                self._send_feedback(answer.turn_id, form)

        self.app.push_screen(FeedbackScreen(answer.question), send)

    @work(thread=True, group="feedback", exit_on_error=False)
    def _send_feedback(self, turn_id: int, form: FeedbackForm) -> None:
        try:
            self.backend.feedback(
                turn_id,
                form.rating,
                form.reason,
                form.comment,
                form.corrected_answer,
                self.operator,
            )
        except ShiftmateError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
        else:
            rating = form.rating.replace("_", " ")
            self.app.call_from_thread(
                self.notify, f"Feedback recorded: {rating}. Thank you.", title="Feedback"
            )

    def action_help(self) -> None:
        """Show every key."""
        self.app.push_screen(HelpScreen(self.operator, self.backend.mode))

    # ---- plant -----------------------------------------------------------------------------

    def on_plant_pane_asset_chosen(self, message: PlantPane.AssetChosen) -> None:
        """Open an asset with its trend chart."""
        self._open_asset(message.asset, message.tag)

    def _open_asset(self, asset_id: str, tag: str | None) -> None:
        asset = next((a for a in self.assets if a.id == asset_id), None)
        if asset is None:
            self.notify(f"No live values for {asset_id} yet.", severity="warning")
            return
        self.app.push_screen(AssetScreen(self.backend, asset, tag, self.refresh_s))

    # ---- alarms ----------------------------------------------------------------------------

    def on_alarms_pane_acknowledge(self, message: AlarmsPane.Acknowledge) -> None:
        """Record the operator's acknowledgement of an alarm in the journal."""
        self._acknowledge(message.event_id, announce=True)

    @work(thread=True, group="ack", exit_on_error=False)
    def _acknowledge(self, event_id: str, announce: bool) -> None:
        try:
            ack = self.backend.acknowledge(event_id, self.operator)
        except ShiftmateError as exc:
            self.app.call_from_thread(
                self.notify, f"Not acknowledged: {exc}", severity="error", timeout=10
            )
            return
        self.app.call_from_thread(self._acknowledged, ack, announce)

    def _acknowledged(self, ack: AlarmAck, announce: bool) -> None:
        self.acks[ack.event_id] = ack
        self._show_alarms()
        if announce:
            self.notify(f"Acknowledged by {ack.by} at {clock(ack.ts)} UTC", title="Alarm")

    def on_alarms_pane_opened(self, message: AlarmsPane.Opened) -> None:
        """Open an alarm; act on the operator's choice."""
        event = message.event

        def chosen(choice: AlarmChoice | None) -> None:
            if choice == "acknowledge":
                self._acknowledge(event.id, announce=True)
            elif choice == "draft":
                self._start_draft(event)

        self.app.push_screen(AlarmScreen(event, self.acks.get(event.id)), chosen)

    def on_alarms_pane_draft_requested(self, message: AlarmsPane.DraftRequested) -> None:
        """Draft a work order from an alarm."""
        self._start_draft(message.event)

    def _start_draft(self, event: TelemetryEvent) -> None:
        if event.id not in self.acks and event.state == "raised":
            self._acknowledge(event.id, announce=False)  # drafting from it means it was seen
        self.activity = f"drafting a work order for {event.asset}"
        self._show_alarms()
        self.notify(f"Drafting a work order for {event.asset} ...", title="Work order")
        self._draft(event, self.query_one(ChatPane).conversation_id)

    @work(thread=True, group="draft", exit_on_error=False)
    def _draft(self, event: TelemetryEvent, conversation: str | None) -> None:
        try:
            order = self.backend.draft(
                event.asset,
                alarm_id=event.id,
                question=None,
                conversation_id=conversation,
                by=self.operator,
            )
        except ShiftmateError as exc:
            self.app.call_from_thread(self._drafted, None, str(exc))
        else:
            self.app.call_from_thread(self._drafted, order, "")

    def _drafted(self, order: WorkOrder | None, error: str) -> None:
        self.activity = None
        self._show_status()
        if order is None:
            self.notify(f"The draft failed: {error}", severity="error", timeout=10)
            return
        self.notify(f"{order.id} drafted: {order.title}", title="Work order")
        panel = self.query_one(WorkOrdersPane)
        panel.show([order, *(o for o in panel.orders.values() if o.id != order.id)])
        panel.select(order.id)
        self.action_show_pane("orders")
        self._open_order(order)

    # ---- work orders -----------------------------------------------------------------------

    def on_work_orders_pane_action(self, message: WorkOrdersPane.Action) -> None:
        """Open a work order or act on it."""
        order = self.query_one(WorkOrdersPane).orders.get(message.order_id)
        if order is None:
            return
        if message.action == "open":
            self._open_order(order)
        else:
            self._order_action(order, message.action)  # type: ignore[arg-type]

    def _open_order(self, order: WorkOrder) -> None:
        def chosen(action: OrderAction | None) -> None:
            if action is not None:
                self._order_action(order, action)

        self.app.push_screen(WorkOrderScreen(order), chosen)

    def _order_action(self, order: WorkOrder, action: OrderAction) -> None:
        if action == "edit":

            def edited(change: FieldEdit | None) -> None:
                if change is not None:
                    self._run_order(order.id, "edit", change.field, change.value)

            self.app.push_screen(EditScreen(order), edited)
        elif action == "reject":

            def rejected(reason: str | None) -> None:
                if reason:
                    self._run_order(order.id, "reject", reason, "")

            self.app.push_screen(
                TextPrompt(f"Reject {order.id}: why?", "the reason, for the record"), rejected
            )
        else:
            self._run_order(order.id, action, "", "")

    @work(thread=True, group="orders", exit_on_error=False)
    def _run_order(self, order_id: str, action: str, arg: str, value: str) -> None:
        backend, by = self.backend, self.operator
        try:
            if action == "edit":
                backend.edit(order_id, arg, value, by)
                done = f"{order_id}: {arg} changed"
            elif action == "approve":
                backend.approve(order_id, by)
                done = f"{order_id} approved by {by}"
            elif action == "reject":
                backend.reject(order_id, by, arg)
                done = f"{order_id} rejected by {by}"
            else:
                result = backend.export(order_id, by)
                done = f"{order_id} exported to {Path(result.json_path).parent}"
            orders = backend.workorders()
        except ShiftmateError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=10)
            return
        self.app.call_from_thread(self._order_done, orders, order_id, done)

    def _order_done(self, orders: list[WorkOrder], order_id: str, done: str) -> None:
        panel = self.query_one(WorkOrdersPane)
        panel.show(orders)
        panel.select(order_id)
        self.notify(done, title="Work order")


class ShiftmateApp(App[None]):
    """The Shiftmate operator terminal over a backend (in-process services or the HTTP API)."""

    CSS_PATH = "shiftmate.tcss"
    TITLE = "Shiftmate"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, backend: Backend, *, operator: str, refresh_s: float = 1.0) -> None:
        super().__init__()
        self.backend = backend
        self.operator = operator
        self.refresh_s = refresh_s

    def get_default_screen(self) -> Screen[Any]:
        """Return the main screen (the panes)."""
        return MainScreen(self.backend, self.operator, self.refresh_s)

    @property
    def main(self) -> MainScreen:
        """Return the main screen."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen
