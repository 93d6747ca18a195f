"""The receiver's store: every site's records once, in ``<cloud data dir>/cloud.sqlite3`` (WAL).

A batch is stored in one transaction with ``INSERT OR IGNORE`` on (site, key), and the
receiver answers only after the commit, so a sender that crashes or times out after the
commit re-sends records that are then counted as duplicates and stored nothing twice. With
``cloud.keep_raw`` every accepted body is also written, uncompressed and with its token masked,
under ``raw/<site>/``. A body the receiver refused is kept as a *dead letter* (its reason, its
first ``DEAD_LETTER_BYTES`` with tokens masked), the newest ``cloud.dead_letter_max`` of them.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import SyncError
from assistant.schema.sync import Ack, WireRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    site TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (site, key)
);
CREATE INDEX IF NOT EXISTS records_by_kind ON records(kind, site, received_at);
CREATE TABLE IF NOT EXISTS receipts (
    site TEXT NOT NULL,
    key TEXT NOT NULL,
    received_at REAL NOT NULL,
    via TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT NOT NULL,
    via TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    size INTEGER NOT NULL,
    received_at REAL NOT NULL,
    body BLOB NOT NULL
)
"""

DEAD_LETTER_BYTES = 256_000
"""The most of a refused body a dead letter keeps."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record as the receiver holds it."""

    site: str
    key: str
    kind: str
    created_at: float
    received_at: float
    body: dict[str, Any]


def _text(value: str) -> str:
    """Return text SQLite can store (a lone surrogate becomes "?")."""
    return value.encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A body the receiver refused: who sent it, how, why, and its start (tokens masked)."""

    id: int
    site: str
    via: str
    reason: str
    detail: str
    size: int
    received_at: float
    body: bytes


class CloudStore:
    """The receiver's records, per site; safe to share between threads."""

    def __init__(self, directory: Path, *, dead_letter_max: int = 10_000) -> None:
        self.directory = directory
        self.dead_letter_max = dead_letter_max
        self.path = directory / "cloud.sqlite3"
        self._lock = threading.Lock()
        self._raw_seq = 0
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise SyncError(f"cannot open the cloud store {self.path}: {exc}") from exc

    def store(self, site: str, records: list[WireRecord], via: str) -> Ack:
        """Store a batch from a site once per key; return how many were new and known."""
        now = time.time()
        accepted = 0
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                for record in records:
                    cursor = self._conn.execute(
                        "INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            site,
                            record.key,
                            record.kind,
                            record.created_at,
                            now,
                            json.dumps(record.body, ensure_ascii=False),
                        ),
                    )
                    accepted += cursor.rowcount
                    self._conn.execute(
                        "INSERT INTO receipts VALUES (?, ?, ?, ?)", (site, record.key, now, via)
                    )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise SyncError(f"cloud store write failed ({self.path}): {exc}") from exc
        return Ack(accepted, len(records) - accepted)

    def keep_raw(self, site: str, body: bytes) -> Path:
        """Write one (accepted, token-masked) body under raw/<site>/ and return its path."""
        folder = self.directory / "raw" / site
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._raw_seq += 1
            path = folder / f"{time.time_ns()}-{self._raw_seq}.bin"
        path.write_bytes(body)
        return path

    def dead_letter(self, site: str, via: str, reason: str, detail: str, body: bytes) -> None:
        """Keep a refused body (its start) with the reason; drop the oldest over the limit."""
        if self.dead_letter_max == 0:
            return
        row = (_text(site[:200]), via, reason, _text(detail[:1000]), len(body), time.time())
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT INTO dead_letters (site, via, reason, detail, size, received_at, body)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*row, body[:DEAD_LETTER_BYTES]),
                )
                self._conn.execute(
                    "DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?",
                    (self.dead_letter_max,),
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise SyncError(f"cloud store write failed ({self.path}): {exc}") from exc

    def dead_letters(self) -> list[DeadLetter]:
        """Return the dead letters kept, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM dead_letters ORDER BY id").fetchall()
        return [DeadLetter(**dict(r)) for r in rows]

    def dead_letter_count(self) -> int:
        """Return how many dead letters are kept."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def records(self, kind: str | None = None, site: str | None = None) -> Iterator[StoredRecord]:
        """Yield stored records (optionally of one kind and site) in the order received."""
        sql = "SELECT * FROM records WHERE 1 = 1"
        params: list[str] = []
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if site is not None:
            sql += " AND site = ?"
            params.append(site)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY received_at, site, key", params).fetchall()
        for r in rows:
            yield StoredRecord(
                r["site"],
                r["key"],
                r["kind"],
                r["created_at"],
                r["received_at"],
                json.loads(r["body"]),
            )

    def counts(self) -> dict[str, dict[str, int]]:
        """Return records per site and kind, and receipts (deliveries, duplicates included)."""
        with self._lock:
            stored = self._conn.execute(
                "SELECT site, kind, COUNT(*) AS n FROM records GROUP BY site, kind"
            ).fetchall()
            receipts = self._conn.execute(
                "SELECT site, COUNT(*) AS n FROM receipts GROUP BY site"
            ).fetchall()
        out: dict[str, dict[str, int]] = {}
        for r in stored:
            out.setdefault(r["site"], {})[r["kind"]] = int(r["n"])
        for r in receipts:
            out.setdefault(r["site"], {})["receipts"] = int(r["n"])
        return out

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
