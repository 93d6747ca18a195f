"""Conversations on the wire: the list, one conversation with its turns, and feedback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from assistant.schema.answers import CitationOut
from assistant.schema.base import WireModel

if TYPE_CHECKING:
    from assistant.feedback import Feedback
    from assistant.journal import ConversationSummary, Turn


class TurnOut(WireModel):
    """One question and answer of a conversation, as the journal keeps it."""

    turn_id: int
    question: str
    answer: str
    citations: list[CitationOut]
    telemetry: list[dict[str, Any]]
    timings: dict[str, Any]
    checks: dict[str, Any]
    created_at: str

    @classmethod
    def from_domain(cls, turn: Turn) -> Self:
        """Return a journal turn as it is sent."""
        return cls(
            turn_id=turn.id,
            question=turn.question,
            answer=turn.answer,
            citations=[CitationOut.from_stored(c) for c in turn.citations],
            telemetry=turn.telemetry,
            timings=turn.timings,
            checks=turn.checks,
            created_at=turn.created_at,
        )


class ConversationSummaryOut(WireModel):
    """A conversation as listed."""

    id: str
    title: str
    created_at: str
    updated_at: str
    turns: int

    @classmethod
    def from_domain(cls, summary: ConversationSummary) -> Self:
        """Return a listed conversation as it is sent."""
        return cls(
            id=summary.id,
            title=summary.title,
            created_at=summary.created_at,
            updated_at=summary.updated_at,
            turns=summary.turns,
        )


class ConversationList(WireModel):
    """The most recently active conversations."""

    conversations: list[ConversationSummaryOut]


class ConversationOut(WireModel):
    """A conversation with its turns, oldest first."""

    id: str
    title: str
    created_at: str
    updated_at: str
    turns: list[TurnOut]


class FeedbackOut(WireModel):
    """Recorded feedback."""

    id: int
    turn_id: int
    rating: str
    reason: str
    comment: str
    corrected_answer: str
    by: str
    created_at: str

    @classmethod
    def from_domain(cls, feedback: Feedback) -> Self:
        """Return recorded feedback as it is sent."""
        return cls(
            id=feedback.id,
            turn_id=feedback.turn_id,
            rating=feedback.rating,
            reason=feedback.reason,
            comment=feedback.comment,
            corrected_answer=feedback.corrected_answer,
            by=feedback.by,
            created_at=feedback.created_at,
        )
