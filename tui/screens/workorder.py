"""One work order opened for review, and the small dialogs to edit a field or give a reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from assistant.workorders.model import EDITABLE, WorkOrder, shown
from assistant.workorders.render import render

OrderAction = Literal["edit", "approve", "reject", "export"]


def export_status(order: WorkOrder) -> str:
    """Return where the work order stands on its way to the CMMS."""
    if order.status == "exported":
        return f"exported at {order.exported_at}"
    if order.status == "approved":
        return f"approved by {order.approved_by} at {order.approved_at}; not exported yet (x)"
    if order.status == "rejected":
        return f"rejected by {order.rejected_by}: {order.rejection_reason}"
    return "draft: review, edit (e), then approve (p) or reject (r)"


class WorkOrderScreen(ModalScreen[OrderAction | None]):
    """The whole work order; its actions close the screen with the operator's choice."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("e", "choose('edit')", "Edit"),
        Binding("p", "choose('approve')", "Approve"),
        Binding("r", "choose('reject')", "Reject"),
        Binding("x", "choose('export')", "Export"),
        Binding("escape,q", "dismiss", "Close"),
    ]

    def __init__(self, order: WorkOrder) -> None:
        super().__init__()
        self.order = order

    def compose(self) -> ComposeResult:
        """Lay out the rendered work order and its status."""
        o = self.order
        with Vertical(classes="dialog"):
            yield Static(f"{o.id} [{o.status}] {o.title}", classes="dialog-title", markup=False)
            yield Static(export_status(o), classes="note", markup=False, id="order-status")
            with VerticalScroll(classes="dialog-body", id="order-body"):
                yield Static(render(o), markup=False)
            yield Static(
                "e edit · p approve · r reject · x export · Esc close", classes="dialog-keys"
            )

    def on_mount(self) -> None:
        """Focus the body so the arrows scroll it."""
        self.query_one("#order-body").focus()

    def action_choose(self, action: OrderAction) -> None:
        """Close the screen with the chosen action."""
        self.dismiss(action)


@dataclass(frozen=True, slots=True)
class FieldEdit:
    """The field an operator changed and its new value (lists separated by ';')."""

    field: str
    value: str


def field_value(order: WorkOrder, field: str) -> str:
    """Return a work order's field as editable text."""
    data = order.model_dump(mode="json")
    if field.startswith("safety."):
        return shown(data["safety"][field.removeprefix("safety.")])
    return shown(data[field])


class EditScreen(ModalScreen[FieldEdit | None]):
    """Choose a field, change its value, save with Enter."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("escape", "dismiss", "Cancel"),
    ]

    def __init__(self, order: WorkOrder) -> None:
        super().__init__()
        self.order = order

    def compose(self) -> ComposeResult:
        """Lay out the field chooser and the value box."""
        with Vertical(classes="dialog -small"):
            yield Static(f"Edit {self.order.id}", classes="dialog-title")
            yield Static("Field", classes="field-label")
            yield Select(
                [(name, name) for name in EDITABLE], value="title", allow_blank=False, id="field"
            )
            yield Static("Value (lists: items separated by ';')", classes="field-label")
            yield Input(field_value(self.order, "title"), id="edit-value")
            yield Static("Enter saves · Esc cancels", classes="dialog-keys")

    def on_mount(self) -> None:
        """Start on the field chooser."""
        self.query_one("#field", Select).focus()

    @on(Select.Changed, "#field")
    def _field_changed(self, event: Select.Changed) -> None:
        self.query_one("#edit-value", Input).value = field_value(self.order, str(event.value))

    @on(Input.Submitted, "#edit-value")
    def _save(self, event: Input.Submitted) -> None:
        field = str(self.query_one("#field", Select).value)
        self.dismiss(FieldEdit(field, event.value))


class TextPrompt(ModalScreen[str | None]):
    """Ask the operator for one line of text (a rejection reason)."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("escape", "dismiss", "Cancel"),
    ]

    def __init__(self, title: str, placeholder: str) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        """Lay out the question and the input."""
        with Vertical(classes="dialog -small"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Input(placeholder=self.placeholder, id="prompt-value")
            with Horizontal(id="dialog-buttons"):
                yield Button("OK (Enter)", id="ok", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        """Focus the input."""
        self.query_one("#prompt-value", Input).focus()

    @on(Input.Submitted, "#prompt-value")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Submit or cancel with the mouse."""
        value = self.query_one("#prompt-value", Input).value.strip()
        self.dismiss(value if event.button.id == "ok" and value else None)
