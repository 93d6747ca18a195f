"""The help screen: every key of the terminal, by where it works."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

KEYS: tuple[tuple[str, str, str], ...] = (
    ("anywhere", "f1", "this help"),
    ("anywhere", "f2", "chat"),
    ("anywhere", "f3", "plant: live values"),
    ("anywhere", "f4", "alarms"),
    ("anywhere", "f5", "work orders"),
    ("anywhere", "f6", "rate the last answer (feedback)"),
    ("anywhere", "tab / shift+tab", "move the focus"),
    ("anywhere", "ctrl+q", "quit"),
    ("chat", "enter", "ask the question typed"),
    ("chat", "escape", "stop the answer being generated"),
    ("chat", "ctrl+o", "jump to the answer's sources, enter opens one"),
    ("chat", "ctrl+n", "start a new conversation"),
    ("plant", "enter", "open the asset: tags and trend chart"),
    ("alarms", "enter", "open the alarm"),
    ("alarms", "a", "acknowledge the alarm"),
    ("alarms", "d", "draft a work order from the alarm"),
    ("work orders", "enter", "open the work order"),
    ("work orders", "e", "edit a field of the draft"),
    ("work orders", "p", "approve the draft (with your name)"),
    ("work orders", "r", "reject the draft with a reason"),
    ("work orders", "x", "export the approved work order"),
    ("dialogs", "escape / q", "close"),
    ("feedback", "ctrl+s", "send the feedback"),
    ("mouse", "click", "tabs, rows, buttons and [D#]/[T#] labels in answers"),
)
"""(where, key, what) for every key the terminal answers to."""


class HelpScreen(ModalScreen[None]):
    """The table of keys."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("escape,q,f1", "dismiss", "Close"),
    ]

    def __init__(self, operator: str, mode: str) -> None:
        super().__init__()
        self.operator = operator
        self.mode = mode

    def compose(self) -> ComposeResult:
        """Lay out the key table."""
        with Vertical(classes="dialog"):
            yield Static("Shiftmate keys", classes="dialog-title")
            yield Static(
                f"Operator: {self.operator} (--operator NAME) · {self.mode}",
                classes="note",
                markup=False,
            )
            table: DataTable[str] = DataTable(id="help-table", cursor_type="row")
            table.add_columns("Where", "Key", "What")
            table.add_rows(KEYS)
            yield table
            yield Static("Esc closes", classes="dialog-keys")

    def on_mount(self) -> None:
        """Focus the table so the arrows scroll it."""
        self.query_one("#help-table", DataTable).focus()
