"""Operator feedback on answers, kept in the journal beside the turn it rates."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Literal, get_args

from assistant.clock import now_iso
from assistant.db import Database
from assistant.errors import FeedbackError

Rating = Literal["helpful", "not_helpful"]
RATINGS: tuple[str, ...] = get_args(Rating)
REASONS: tuple[str, ...] = (
    "",
    "wrong",
    "incomplete",
    "not_relevant",
    "unsupported",
    "unsafe",
    "too_slow",
    "other",
)
MAX_COMMENT = 2_000
MAX_CORRECTION = 8_000
MAX_NAME = 80


@dataclass(frozen=True, slots=True)
class Feedback:
    """One operator's rating of one answer (a turn), with an optional corrected answer."""

    id: int
    turn_id: int
    rating: Rating
    reason: str
    comment: str
    corrected_answer: str
    by: str
    created_at: str


class FeedbackStore:
    """Stores and lists feedback; every field is checked before it is written."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        turn_id: int,
        rating: str,
        *,
        reason: str = "",
        comment: str = "",
        corrected_answer: str = "",
        by: str = "",
    ) -> Feedback:
        """Record feedback on a turn and return it; FeedbackError names any invalid field."""
        if rating not in RATINGS:
            raise FeedbackError(f"rating must be one of {', '.join(RATINGS)}, not {rating!r}")
        if reason not in REASONS:
            raise FeedbackError(
                f"reason must be one of {', '.join(r for r in REASONS if r)} (or empty), "
                f"not {reason!r}"
            )
        for name, value, limit in (
            ("comment", comment, MAX_COMMENT),
            ("corrected_answer", corrected_answer, MAX_CORRECTION),
            ("by", by, MAX_NAME),
        ):
            if len(value) > limit:
                raise FeedbackError(f"{name} is {len(value)} characters; the limit is {limit}")
        if self._db.query_one("SELECT 1 FROM turns WHERE id = ?", (turn_id,)) is None:
            raise FeedbackError(f"no answer with turn id {turn_id}")
        stamp = now_iso()
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO feedback (turn_id, rating, reason, comment, corrected_answer,"
                " by_name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (turn_id, rating, reason, comment.strip(), corrected_answer.strip(), by, stamp),
            )
        return self.get(int(cursor.lastrowid or 0))

    def get(self, feedback_id: int) -> Feedback:
        """Return one feedback record; FeedbackError when it does not exist."""
        row = self._db.query_one("SELECT * FROM feedback WHERE id = ?", (feedback_id,))
        if row is None:
            raise FeedbackError(f"no feedback with id {feedback_id}")
        return _feedback(row)

    def for_turn(self, turn_id: int) -> list[Feedback]:
        """Return the feedback given on one turn, oldest first."""
        rows = self._db.query("SELECT * FROM feedback WHERE turn_id = ? ORDER BY id", (turn_id,))
        return [_feedback(r) for r in rows]

    def since(self, after_id: int = 0, limit: int = 500) -> list[Feedback]:
        """Return feedback with an id above ``after_id``, oldest first (for sync)."""
        rows = self._db.query(
            "SELECT * FROM feedback WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return [_feedback(r) for r in rows]


def _feedback(row: sqlite3.Row) -> Feedback:
    return Feedback(
        id=int(row["id"]),
        turn_id=int(row["turn_id"]),
        rating=row["rating"],
        reason=row["reason"],
        comment=row["comment"],
        corrected_answer=row["corrected_answer"],
        by=row["by_name"],
        created_at=row["created_at"],
    )
