"""The chat pane: the transcript with streamed answers, the answer's sources, the question box."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from assistant.domain import Answer, Citation, TelemetryLine
from tui.format import answer_content

Source = Citation | TelemetryLine

WELCOME = (
    "Ask about the plant: 'How do I clean strainer ST-101?', 'Why is ST-101 alarming?'. "
    "Enter asks, Esc stops an answer, F6 rates it, Ctrl+N starts a new conversation, "
    "Ctrl+O jumps to the sources. F1 lists every key."
)


def source_label(source: Source) -> str:
    """Return one line naming a source: file and section, or the live tag and its value."""
    if isinstance(source, Citation):
        page = f", p. {source.page}" if source.page is not None else ""
        section = source.section.split(" > ")[-1] if source.section else ""
        name = PurePath(source.source).name
        return f"[{source.id}] {name}" + (f" > {section}" if section else "") + page
    label = f"[{source.id}]"
    return source.text if source.text.startswith(label) else f"{label} {source.text}"


class AnswerBox(Static):
    """One answer, growing as the checked sentences stream in."""

    def __init__(self) -> None:
        super().__init__("waiting for the model ...", classes="answer -pending")
        self.text = ""

    def add(self, piece: str) -> None:
        """Append a streamed piece of the answer."""
        self.text += piece
        self.remove_class("-pending")
        self.update(answer_content(self.text))

    def finish(self, answer: Answer) -> None:
        """Show the final, checked answer text."""
        self.text = answer.text
        self.remove_class("-pending")
        self.update(answer_content(answer.text))

    def end(self, note: str) -> None:
        """End the answer with a note (stopped, failed)."""
        self.remove_class("-pending")
        if self.text:
            self.update(Content.assemble(answer_content(self.text), f"\n({note})"))
        else:
            self.update(Content(f"({note})"))
            self.add_class("note")


class ChatPane(Vertical):
    """Transcript, sources of the last answer and the question input."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("ctrl+o", "focus_sources", "Sources", tooltip="Jump to the answer's sources"),
        Binding("ctrl+n", "new_conversation", "New chat", tooltip="Start a new conversation"),
    ]

    @dataclass
    class Asked(Message):
        """The operator submitted a question."""

        question: str

    @dataclass
    class SourceChosen(Message):
        """The operator chose one of the answer's sources to open."""

        label: str

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.conversation_id: str | None = None
        self.last_answer: Answer | None = None
        self.sources: dict[str, Source] = {}
        self.current: AnswerBox | None = None
        self.border_title = "Chat"

    def compose(self) -> ComposeResult:
        """Lay out the transcript, the sources list and the question box."""
        with VerticalScroll(id="transcript"):
            yield Static(WELCOME, classes="note", id="welcome")
        yield OptionList(id="sources", classes="-empty")
        yield Input(placeholder="Ask a question and press Enter", id="question")

    @on(Input.Submitted, "#question")
    def _submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if question:
            self.post_message(self.Asked(question))

    @on(OptionList.OptionSelected, "#sources")
    def _source_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.post_message(self.SourceChosen(event.option.id))

    def note(self, text: str, warning: bool = False) -> None:
        """Add a line of information (or a warning) to the transcript."""
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(Static(text, classes="warning" if warning else "note"))
        transcript.scroll_end(animate=False)

    def start_turn(self, question: str) -> AnswerBox:
        """Show the question and an empty answer that the stream fills."""
        self.query_one("#question", Input).clear()
        transcript = self.query_one("#transcript", VerticalScroll)
        box = AnswerBox()
        transcript.mount(Static(f"> {question}", classes="question", markup=False), box)
        transcript.scroll_end(animate=False)
        self.current = box
        return box

    def add_piece(self, piece: str) -> None:
        """Append a streamed piece to the current answer."""
        if self.current is not None:
            self.current.add(piece)
            self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    def finish_turn(self, answer: Answer) -> None:
        """Show the final answer and list its sources."""
        if self.current is not None:
            self.current.finish(answer)
        self.current = None
        self.last_answer = answer
        self.conversation_id = answer.conversation_id
        self.show_sources(answer)
        self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    def end_turn(self, note: str) -> None:
        """End the current answer early (stopped by the operator, or failed)."""
        if self.current is not None:
            self.current.end(note)
        self.current = None

    def show_sources(self, answer: Answer) -> None:
        """List the answer's cited passages and live values, selectable."""
        sources: list[Source] = [*answer.citations, *answer.telemetry]
        self.sources = {s.id: s for s in sources}
        options = self.query_one("#sources", OptionList)
        options.clear_options()
        options.add_options([Option(Content(source_label(s)), id=s.id) for s in sources])
        options.set_class(not sources, "-empty")
        if sources:
            options.highlighted = 0

    def action_focus_sources(self) -> None:
        """Move the focus to the sources of the last answer."""
        options = self.query_one("#sources", OptionList)
        if options.option_count:
            options.focus()
        else:
            self.notify("No sources yet: ask a question first.", severity="warning")

    def action_new_conversation(self) -> None:
        """Forget the conversation so the next question starts a new one."""
        self.conversation_id = None
        self.note("New conversation.")
        self.query_one("#question", Input).focus()
