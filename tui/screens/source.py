"""The cited passage behind a [D#] label, shown in full with the quoted part highlighted."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from assistant.domain import Citation

QUOTE_STYLE = "bold $text on $accent-muted"
"""How the words the answer quoted stand out in the passage."""


def quoted_spans(citation: Citation) -> list[tuple[int, int]]:
    """Return the (start, end) offsets the answer quoted, in order and inside the passage.

    The quoted units' own spans when there are several, else the one quote's start and end;
    none for a passage cited as a whole.
    """
    raw = list(citation.spans)
    if not raw and citation.start is not None and citation.end is not None:
        raw = [(citation.start, citation.end)]
    size = len(citation.text)
    clipped = sorted((max(0, a), min(size, b)) for a, b in raw)
    return [(a, b) for a, b in clipped if a < b]


def passage_content(citation: Citation) -> Content:
    """Return the passage's text with the quoted spans in the quote style."""
    content = Content(citation.text)
    for start, end in quoted_spans(citation):
        content = content.stylize(QUOTE_STYLE, start, end)
    return content


def quote_note(citation: Citation) -> str:
    """Return one line saying which part of the passage the answer quoted."""
    spans = quoted_spans(citation)
    text = citation.text
    if not spans:
        return "The answer refers to this passage without quoting it."
    unquoted, position = [], 0
    for start, end in spans:
        unquoted.append(text[position:start])
        position = max(position, end)
    unquoted.append(text[position:])
    if not "".join(unquoted).strip():
        return "Quoted in the answer: the whole passage (highlighted)."
    parts = "1 part" if len(spans) == 1 else f"{len(spans)} parts"
    total = text.count("\n") + 1
    if total == 1:
        return f"Quoted in the answer: {parts}, highlighted."
    first = text.count("\n", 0, spans[0][0]) + 1
    last = text.count("\n", 0, max(end for _, end in spans) - 1) + 1
    where = f"line {first}" if first == last else f"lines {first}-{last}"
    return f"Quoted in the answer: {parts}, highlighted, on {where} of {total}."


def quote_row(citation: Citation, width: int) -> int:
    """Return the row, once wrapped to ``width``, on which the first quoted span begins."""
    spans = quoted_spans(citation)
    if not spans or width < 1:
        return 0
    return len(Content(citation.text[: spans[0][0]]).wrap(width)) - 1


class SourceScreen(ModalScreen[None]):
    """One document passage: file, section, page and the text the answer rests on."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("escape,q", "dismiss", "Close"),
    ]

    def __init__(self, citation: Citation) -> None:
        super().__init__()
        self.citation = citation

    def compose(self) -> ComposeResult:
        """Lay out the passage, where it comes from and which part the answer quoted."""
        c = self.citation
        page = f", page {c.page}" if c.page is not None else ""
        with Vertical(classes="dialog"):
            yield Static(f"[{c.id}] {c.source}{page}", classes="dialog-title", markup=False)
            yield Static(c.section or "(no section)", classes="note", markup=False)
            yield Static(quote_note(c), classes="note", id="source-quote", markup=False)
            with VerticalScroll(classes="dialog-body", id="source-body"):
                yield Static(passage_content(c), id="source-text")
            yield Static("Esc closes · arrows scroll", classes="dialog-keys")

    def on_mount(self) -> None:
        """Focus the passage so the arrows scroll it; bring the first quote into view."""
        self.query_one("#source-body").focus()
        self.call_after_refresh(self.show_quote)

    def show_quote(self) -> None:
        """Scroll the passage so the first quoted span is in view, a line below the top."""
        text = self.query_one("#source-text", Static)
        row = quote_row(self.citation, text.content_size.width)
        self.query_one("#source-body", VerticalScroll).scroll_to(y=max(row - 1, 0), animate=False)
