"""The ingestion manifest: which file was indexed with which content hash and chunk ids."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from assistant.db import Database


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One indexed file as the manifest remembers it."""

    path: str
    doc_key: str
    sha256: str
    size: int
    title: str
    chunk_ids: tuple[str, ...]
    ingested_at: str


class Manifest:
    """Content hashes decide what to re-embed; stored in the journal database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, path: str) -> ManifestEntry | None:
        """Return the entry of a file, or None if it was never indexed."""
        row = self._db.query_one("SELECT * FROM documents WHERE path = ?", (path,))
        return _entry(row) if row else None

    def entries(self) -> list[ManifestEntry]:
        """Return every indexed file, by path."""
        return [_entry(row) for row in self._db.query("SELECT * FROM documents ORDER BY path")]

    @staticmethod
    def put(conn: sqlite3.Connection, entry: ManifestEntry) -> None:
        """Inside a transaction: record (or replace) a file's entry."""
        conn.execute(
            "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                entry.path,
                entry.doc_key,
                entry.sha256,
                entry.size,
                entry.title,
                json.dumps(list(entry.chunk_ids)),
                entry.ingested_at,
            ),
        )

    @staticmethod
    def remove(conn: sqlite3.Connection, path: str) -> None:
        """Inside a transaction: forget a file."""
        conn.execute("DELETE FROM documents WHERE path = ?", (path,))


def _entry(row: sqlite3.Row) -> ManifestEntry:
    return ManifestEntry(
        path=row["path"],
        doc_key=row["doc_key"],
        sha256=row["sha256"],
        size=int(row["size"]),
        title=row["title"],
        chunk_ids=tuple(json.loads(row["chunk_ids"])),
        ingested_at=row["ingested_at"],
    )
