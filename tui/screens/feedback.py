"""Feedback on the last answer: helpful or not, a reason, a comment, a corrected answer."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet, Select, Static, TextArea

from assistant.feedback import REASONS


@dataclass(frozen=True, slots=True)
class FeedbackForm:
    """What the operator said about an answer."""

    rating: str
    reason: str
    comment: str
    corrected_answer: str


class FeedbackScreen(ModalScreen[FeedbackForm | None]):
    """Rate an answer; Ctrl+S sends, Esc cancels."""

    BINDINGS = [  # noqa: RUF012 (Textual's declared class attribute)
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("escape", "dismiss", "Cancel"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        """Lay out the rating, reason, comment and corrected answer."""
        with Vertical(classes="dialog -small"):
            yield Static("Rate the last answer", classes="dialog-title")
            yield Static(f"> {self.question}", classes="note", markup=False)
            with RadioSet(id="rating"):
                yield RadioButton("Helpful", value=True, id="helpful")
                yield RadioButton("Not helpful", id="not_helpful")
            yield Static("Reason", classes="field-label")
            yield Select(
                [(r.replace("_", " "), r) for r in REASONS if r],
                prompt="(no reason)",
                id="feedback-reason",
            )
            yield Input(placeholder="Comment (optional)", id="feedback-comment")
            yield Static("Corrected answer (optional)", classes="field-label")
            yield TextArea(id="feedback-correction")
            with Horizontal(id="dialog-buttons"):
                yield Button("Send (Ctrl+S)", id="send", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        """Start on the rating."""
        self.query_one("#rating", RadioSet).focus()

    def form(self) -> FeedbackForm:
        """Return what the operator entered."""
        radio = self.query_one("#rating", RadioSet).pressed_button
        reason = self.query_one("#feedback-reason", Select).value
        return FeedbackForm(
            rating=radio.id if radio is not None and radio.id else "helpful",
            reason=reason if isinstance(reason, str) else "",
            comment=self.query_one("#feedback-comment", Input).value.strip(),
            corrected_answer=self.query_one("#feedback-correction", TextArea).text.strip(),
        )

    def action_send(self) -> None:
        """Close with the feedback."""
        self.dismiss(self.form())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Send or cancel with the mouse."""
        self.dismiss(self.form() if event.button.id == "send" else None)
