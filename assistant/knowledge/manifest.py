"""The ingestion manifest: which file was indexed with which content hash and chunk ids."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
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

    def listed(self, chunk_ids: Iterable[str]) -> set[str]:
        """Return those of these chunk ids that an entry lists; the others are orphans.

        A chunk id starts with its document's key (``doc_key:...``), so only the entries of
        those documents are read.
        """
        wanted = set(chunk_ids)
        keys = sorted({chunk_id.split(":", 1)[0] for chunk_id in wanted})
        if not keys:
            return set()
        marks = ", ".join("?" for _ in keys)
        rows = self._db.query(
            f"SELECT chunk_ids FROM documents WHERE doc_key IN ({marks})", tuple(keys)
        )
        found: set[str] = set()
        for row in rows:
            found.update(wanted.intersection(json.loads(row[0])))
        return found

    def all_chunk_ids(self) -> set[str]:
        """Return every chunk id any entry lists."""
        rows = self._db.query("SELECT chunk_ids FROM documents")
        return {chunk_id for row in rows for chunk_id in json.loads(row[0])}

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
