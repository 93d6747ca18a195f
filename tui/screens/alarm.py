"""One alarm opened: what was raised, the values behind it and who acknowledged it; acknowledge
it (recorded in the journal) or draft from it."""

from __future__ import annotations

from typing import Literal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from assistant.domain import TelemetryEvent
from assistant.telemetry.acks import AlarmAck
from tui.format import clock, number

AlarmChoice = Literal["acknowledge", "draft"]


class AlarmScreen(ModalScreen[AlarmChoice | None]):
    """The alarm's message and values; a to acknowledge, d to draft a work order."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("a", "choose('acknowledge')", "Acknowledge"),
        Binding("d", "choose('draft')", "Draft work order"),
        Binding("escape,q", "dismiss", "Close"),
    ]

    def __init__(self, event: TelemetryEvent, ack: AlarmAck | None) -> None:
        super().__init__()
        self.event = event
        self.ack = ack

    def compose(self) -> ComposeResult:
        """Lay out the alarm and the two actions."""
        e = self.event
        values = ", ".join(f"{tag} {number(value)}" for tag, value in e.values) or "-"
        with Vertical(classes="dialog -small"):
            yield Static(
                f"{e.asset} {e.tag or 'asset'}: {e.level.upper()} {e.kind} {e.state}",
                classes="dialog-title",
                markup=False,
            )
            yield Static(e.message, markup=False)
            yield Static(
                f"at {clock(e.ts)} UTC · values: {values} · "
                + (
                    f"acknowledged by {self.ack.by} at {clock(self.ack.ts)} UTC"
                    if self.ack is not None
                    else "NEW, not acknowledged"
                ),
                classes="note",
                markup=False,
            )
            with Horizontal(id="dialog-buttons"):
                yield Button("Acknowledge (a)", id="acknowledge", variant="primary")
                yield Button("Draft work order (d)", id="draft", variant="warning")
                yield Button("Close (Esc)", id="close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Act on a button press (mouse or Enter)."""
        if event.button.id in ("acknowledge", "draft"):
            self.dismiss(event.button.id)  # type: ignore[arg-type]
        else:
            self.dismiss(None)

    def action_choose(self, choice: AlarmChoice) -> None:
        """Close the screen with the operator's choice."""
        self.dismiss(choice)
