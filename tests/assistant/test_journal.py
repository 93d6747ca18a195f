"""The journal finds the conversation a resent chat continues (real SQLite journal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.db import Database
from assistant.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(Database(tmp_path / "journal.sqlite3"))


def _ask(journal: Journal, conversation: str, question: str, answer: str) -> None:
    journal.add_turn(
        conversation,
        question=question,
        answer=answer,
        raw_answer=answer,
        prompt_user=f"Question: {question}",
        passages=[],
        citations=[],
        telemetry=[],
        timings={},
        checks={},
        prompt_version="test",
        model_sha256="",
    )


def test_a_resent_chat_continues_its_conversation(journal: Journal) -> None:
    first = journal.new_conversation("lockout")
    _ask(journal, first, "How do I lock out P-101?", "Open breaker 4B [D1].\n\nThen test.")
    _ask(journal, first, "And then?", "Apply your lock [D2].")
    other = journal.new_conversation("lockout again")
    _ask(journal, other, "How do I lock out P-101?", "Open breaker 4B [D1].\n\nThen test.")

    # The system prompt is ignored; whitespace differs as a streaming client pieces it together.
    chat = [
        ("system", "You are helpful."),
        ("user", "How do I lock out P-101?"),
        ("assistant", "Open breaker 4B [D1]. Then test. "),
        ("user", " And  then?"),
        ("assistant", "Apply your lock [D2]."),
    ]
    assert journal.continued(chat) == first
    assert journal.continued(chat[:3]) == other  # the newest conversation with that turn
    # Not a prefix: every turn must match, and the conversation must have no other turns.
    assert journal.continued([*chat[:3], ("user", "And then?"), ("assistant", "Other.")]) is None
    assert journal.continued([("user", "How do I lock out P-101?")]) is None
    assert journal.continued([]) is None
