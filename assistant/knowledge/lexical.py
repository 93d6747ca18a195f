"""A lexical (BM25) index of the chunks in SQLite FTS5, fused with vector search at query time.

Plant questions name tags, valve numbers and exact terms ("cubicle 4B", "V-101A") that a small
sentence embedder blurs; BM25 finds them. The index lives in the journal database so it is
updated in the same transaction as the ingestion manifest.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence

from assistant.db import Database
from assistant.knowledge.words import STOPWORDS

TERM = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


def fts_query(text: str) -> str:
    """Turn free text into a safe FTS5 query: quoted content terms joined by OR."""
    terms = [t for t in TERM.findall(text) if t.lower() not in STOPWORDS]
    unique = list(dict.fromkeys(t.lower() for t in terms))
    return " OR ".join(f'"{t}"' for t in unique)


class LexicalIndex:
    """BM25 search over chunk texts."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def replace(
        conn: sqlite3.Connection, remove_ids: Iterable[str], add: Sequence[tuple[str, str]]
    ) -> None:
        """Inside a transaction: drop chunks by id and add (chunk_id, text) pairs."""
        for chunk_id in remove_ids:
            conn.execute("DELETE FROM chunk_text WHERE chunk_id = ?", (chunk_id,))
        conn.executemany("INSERT INTO chunk_text (chunk_id, body) VALUES (?, ?)", add)

    def search(self, text: str, limit: int) -> list[str]:
        """Return the ids of the best lexical matches, best first."""
        query = fts_query(text)
        if not query:
            return []
        rows = self._db.query(
            "SELECT chunk_id FROM chunk_text WHERE chunk_text MATCH ? ORDER BY bm25(chunk_text)"
            " LIMIT ?",
            (query, limit),
        )
        return [str(row[0]) for row in rows]

    def ids(self) -> set[str]:
        """Return the id of every indexed chunk."""
        return {str(row[0]) for row in self._db.query("SELECT chunk_id FROM chunk_text")}

    def count(self) -> int:
        """Return how many chunks are indexed."""
        row = self._db.query_one("SELECT COUNT(*) FROM chunk_text")
        return int(row[0]) if row else 0
