"""The alarms pane: active alarms, new (unacknowledged) ones standing out; acknowledge, draft."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from assistant.domain import TelemetryEvent
from assistant.telemetry.acks import AlarmAck
from tui.format import clock, event_level


class AlarmsPane(Vertical):
    """Active alarm, stale and anomaly events; new ones in reverse red until acknowledged."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("a", "acknowledge", "Acknowledge", tooltip="Acknowledge the highlighted alarm"),
        Binding("d", "draft", "Draft work order", tooltip="Draft a work order from the alarm"),
        Binding("enter", "open", "Open", show=False),
    ]

    @dataclass
    class Acknowledge(Message):
        """The operator acknowledged an alarm (to be recorded in the journal)."""

        event_id: str

    @dataclass
    class DraftRequested(Message):
        """The operator asked for a work order drafted from an alarm."""

        event: TelemetryEvent

    @dataclass
    class Opened(Message):
        """The operator opened an alarm to read it and act on it."""

        event: TelemetryEvent

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Alarms"
        self.events: dict[str, TelemetryEvent] = {}
        self._acked: set[str] = set()

    def compose(self) -> ComposeResult:
        """Lay out the alarm table (and its empty state)."""
        yield Static("No active alarms.", classes="empty", id="alarms-empty")
        table: DataTable[str | Content] = DataTable(id="alarm-table", cursor_type="row")
        table.add_column("", key="new", width=3)
        table.add_column("Since", key="since", width=8)
        table.add_column("Asset", key="asset", width=6)
        table.add_column("Level", key="level", width=7)
        table.add_column("Message", key="message", width=60)
        yield table

    def show(self, events: list[TelemetryEvent], acknowledged: Mapping[str, AlarmAck]) -> None:
        """Redraw the active alarms, newest first, keeping the cursor on the same alarm.

        ``acknowledged`` holds the journal's acknowledgements by event id, made in this
        terminal or anywhere else (the CLI, the API, another terminal).
        """
        table = self.query_one("#alarm-table", DataTable)
        ordered = sorted(events, key=lambda e: e.ts, reverse=True)
        ids = [e.id for e in ordered]
        new = sum(1 for e in ordered if e.id not in acknowledged)
        self.border_title = f"Alarms ({len(ordered)}, {new} new)" if new else "Alarms"
        self.query_one("#alarms-empty", Static).set_class(bool(ordered), "-hidden")
        if ids == list(self.events) and not self._ack_changed(acknowledged):
            return
        current = self.selected()
        self.events = {e.id: e for e in ordered}
        self._acked = {i for i in ids if i in acknowledged}
        table.clear()
        for event in ordered:
            fresh = event.id not in acknowledged
            style = "bold reverse $error" if fresh else ""
            table.add_row(
                Content.styled("NEW" if fresh else "ack", style or "$text-muted"),
                clock(event.ts),
                event.asset,
                event_level(event),
                Content.styled(event.message, "bold" if fresh else ""),
                key=event.id,
            )
        if current is not None and current.id in self.events:
            table.move_cursor(row=ids.index(current.id))

    def _ack_changed(self, acknowledged: Mapping[str, AlarmAck]) -> bool:
        return {i for i in self.events if i in acknowledged} != self._acked

    def selected(self) -> TelemetryEvent | None:
        """Return the highlighted alarm, if any."""
        table = self.query_one("#alarm-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.events.get(key or "")

    @on(DataTable.RowSelected, "#alarm-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        """Open the highlighted alarm."""
        event = self.selected()
        if event is not None:
            self.post_message(self.Opened(event))

    def action_acknowledge(self) -> None:
        """Acknowledge the highlighted alarm."""
        event = self.selected()
        if event is None:
            self.notify("No alarm to acknowledge.", severity="warning")
        else:
            self.post_message(self.Acknowledge(event.id))

    def action_draft(self) -> None:
        """Ask for a work order drafted from the highlighted alarm."""
        event = self.selected()
        if event is None:
            self.notify("No alarm selected to draft from.", severity="warning")
        else:
            self.post_message(self.DraftRequested(event))
