"""Conversations and their turns, kept in the SQLite journal."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assistant.clock import now_iso
from assistant.db import Database
from assistant.errors import ChatError


@dataclass(frozen=True, slots=True)
class PassageRef:
    """A passage given to the model in a turn, under its conversation-wide label ``D#``."""

    label: str
    chunk_id: str
    included: bool


@dataclass(frozen=True, slots=True)
class Turn:
    """One question and its answer, with exactly what the model saw and said."""

    id: int
    conversation_id: str
    question: str
    answer: str
    raw_answer: str
    prompt_user: str
    passages: tuple[PassageRef, ...]
    citations: list[dict[str, Any]]
    telemetry: list[dict[str, Any]]
    timings: dict[str, Any]
    checks: dict[str, Any]
    created_at: str


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """A conversation as listed."""

    id: str
    title: str
    created_at: str
    updated_at: str
    turns: int


class Journal:
    """Reads and writes conversations."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def new_conversation(self, title: str) -> str:
        """Start a conversation and return its id."""
        conversation_id = uuid.uuid4().hex[:12]
        stamp = now_iso()
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?)",
                (conversation_id, title[:120], stamp, stamp),
            )
        return conversation_id

    def exists(self, conversation_id: str) -> bool:
        """Return whether a conversation id is known."""
        row = self._db.query_one("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,))
        return row is not None

    def require(self, conversation_id: str) -> None:
        """Raise ChatError unless the conversation exists."""
        if not self.exists(conversation_id):
            raise ChatError(f"unknown conversation: {conversation_id}")

    def add_turn(
        self,
        conversation_id: str,
        *,
        question: str,
        answer: str,
        raw_answer: str,
        prompt_user: str,
        passages: list[PassageRef],
        citations: list[dict[str, Any]],
        telemetry: list[dict[str, Any]],
        timings: dict[str, Any],
        checks: dict[str, Any],
        prompt_version: str,
        model_sha256: str,
    ) -> int:
        """Append a finished turn to a conversation and return its id."""
        stamp = now_iso()
        passages_json = json.dumps(
            [{"label": p.label, "chunk_id": p.chunk_id, "included": p.included} for p in passages]
        )
        with self._db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO turns (conversation_id, question, answer, raw_answer, prompt_user,"
                " passages, citations, telemetry, timings, checks, prompt_version, model_sha256,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    question,
                    answer,
                    raw_answer,
                    prompt_user,
                    passages_json,
                    json.dumps(citations),
                    json.dumps(telemetry),
                    json.dumps(timings),
                    json.dumps(checks),
                    prompt_version,
                    model_sha256,
                    stamp,
                ),
            )
            conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (stamp, conversation_id)
            )
        return int(cursor.lastrowid or 0)

    def turns(self, conversation_id: str) -> list[Turn]:
        """Return a conversation's turns, oldest first."""
        rows = self._db.query(
            "SELECT * FROM turns WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        )
        return [_turn(row) for row in rows]

    def turn(self, turn_id: int) -> Turn | None:
        """Return one turn by its id, or None."""
        row = self._db.query_one("SELECT * FROM turns WHERE id = ?", (turn_id,))
        return _turn(row) if row is not None else None

    def conversations(self, limit: int = 50) -> list[ConversationSummary]:
        """Return the most recently active conversations."""
        rows = self._db.query(
            "SELECT c.*, (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) AS n"
            " FROM conversations c ORDER BY updated_at DESC, id LIMIT ?",
            (limit,),
        )
        return [
            ConversationSummary(r["id"], r["title"], r["created_at"], r["updated_at"], int(r["n"]))
            for r in rows
        ]

    def continued(self, messages: Sequence[tuple[str, str]]) -> str | None:
        """Return the conversation whose turns are exactly these earlier (role, text) messages.

        A client that resends the whole chat (as OpenAI-compatible UIs do) continues it: each
        user message followed by an assistant message is one turn; other roles are ignored.
        """
        pairs: list[tuple[str, str]] = []
        pending: str | None = None
        for role, text in messages:
            if role == "user":
                pending = _words(text)
            elif role == "assistant" and pending is not None:
                pairs.append((pending, _words(text)))
                pending = None
        if not pairs:
            return None
        # Whitespace may differ: a streamed answer is pieced together by the client, and UIs trim.
        rows = self._db.query(
            "SELECT DISTINCT conversation_id FROM turns WHERE question = ? ORDER BY id DESC"
            " LIMIT 20",
            (pairs[-1][0],),
        )
        for row in rows:
            turns = self.turns(row["conversation_id"])
            if [(t.question, _words(t.answer)) for t in turns] == pairs:
                return str(row["conversation_id"])
        return None


def _words(text: str) -> str:
    return " ".join(text.split())


def _turn(row: Any) -> Turn:
    return Turn(
        id=int(row["id"]),
        conversation_id=row["conversation_id"],
        question=row["question"],
        answer=row["answer"],
        raw_answer=row["raw_answer"],
        prompt_user=row["prompt_user"],
        passages=tuple(PassageRef(**p) for p in json.loads(row["passages"])),
        citations=json.loads(row["citations"]),
        telemetry=json.loads(row["telemetry"]),
        timings=json.loads(row["timings"]),
        checks=json.loads(row["checks"]),
        created_at=row["created_at"],
    )
