"""The cited passage behind a [D#] label, shown in full."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from assistant.domain import Citation


class SourceScreen(ModalScreen[None]):
    """One document passage: file, section, page and the text the answer rests on."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("escape,q", "dismiss", "Close"),
    ]

    def __init__(self, citation: Citation) -> None:
        super().__init__()
        self.citation = citation

    def compose(self) -> ComposeResult:
        """Lay out the passage and where it comes from."""
        c = self.citation
        page = f", page {c.page}" if c.page is not None else ""
        with Vertical(classes="dialog"):
            yield Static(f"[{c.id}] {c.source}{page}", classes="dialog-title", markup=False)
            yield Static(c.section or "(no section)", classes="note", markup=False)
            with VerticalScroll(classes="dialog-body", id="source-body"):
                yield Static(c.text, markup=False, id="source-text")
            yield Static("Esc closes · arrows scroll", classes="dialog-keys")

    def on_mount(self) -> None:
        """Focus the passage so the arrows scroll it."""
        self.query_one("#source-body").focus()
