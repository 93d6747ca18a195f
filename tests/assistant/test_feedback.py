"""Feedback on answers: stored beside the turn, every field checked (real SQLite journal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.db import Database
from assistant.errors import FeedbackError
from assistant.feedback import MAX_COMMENT, FeedbackStore
from assistant.journal import Journal


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "journal.sqlite3")


def _turn(db: Database) -> int:
    journal = Journal(db)
    conversation = journal.new_conversation("How do I lock out P-101?")
    return journal.add_turn(
        conversation,
        question="How do I lock out P-101?",
        answer="Open breaker 4B [D1].",
        raw_answer="Open breaker 4B [D1].",
        prompt_user="...",
        passages=[],
        citations=[],
        telemetry=[],
        timings={},
        checks={},
        prompt_version="test",
        model_sha256="0" * 64,
    )


def test_feedback_is_stored_with_its_turn(db: Database) -> None:
    store = FeedbackStore(db)
    turn = _turn(db)
    first = store.add(turn, "helpful", by="Dana")
    second = store.add(
        turn,
        "not_helpful",
        reason="incomplete",
        comment="  missed the valve  ",
        corrected_answer="Open breaker 4B and close valve V-7 [D1].",
        by="Lee",
    )
    assert [f.id for f in store.for_turn(turn)] == [first.id, second.id]
    assert second.comment == "missed the valve"
    assert store.since(first.id) == [second]
    assert Journal(db).turn(turn) is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rating": "meh"}, "rating must be one of helpful, not_helpful"),
        ({"rating": "helpful", "reason": "bored"}, "reason must be one of"),
        ({"rating": "helpful", "comment": "x" * (MAX_COMMENT + 1)}, "comment is 2001 characters"),
    ],
)
def test_invalid_feedback_names_the_field(
    db: Database, kwargs: dict[str, str], message: str
) -> None:
    turn = _turn(db)
    with pytest.raises(FeedbackError, match=message):
        FeedbackStore(db).add(turn, **kwargs)
    assert FeedbackStore(db).for_turn(turn) == []


def test_feedback_on_unknown_answer_is_refused(db: Database) -> None:
    with pytest.raises(FeedbackError, match="no answer with turn id 42"):
        FeedbackStore(db).add(42, "helpful")
