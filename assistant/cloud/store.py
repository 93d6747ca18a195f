"""The receiver's store: every site's records once, per (site, key).

:class:`RecordStore` is what the receiver, ``cloud export`` and ``cloud status`` use; it has two
implementations: :class:`CloudStore`, SQLite in ``<cloud data dir>/cloud.sqlite3`` (WAL; the
embedded default, one process), and :class:`assistant.cloud.postgres.PostgresStore`
(``cloud.database_url = "postgresql://..."``; many receivers against one database, the unique
key and ``INSERT ... ON CONFLICT DO NOTHING`` keep every record once). :func:`open_store`
picks one from the settings. Both create and upgrade their schema through numbered
migrations recorded in a ``schema_version`` table.

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
from typing import TYPE_CHECKING, Any, Protocol

from assistant.errors import SyncError
from assistant.schema.sync import Ack, WireRecord

if TYPE_CHECKING:
    from assistant.settings import CloudSettings

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

SQLITE_MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "records, receipts and dead letters", SCHEMA),
]
"""Numbered migrations of the SQLite store; append only (1 is the schema before versions)."""

SQLITE_CURSOR = "seq"
"""Export cursors of the SQLite store are ``seq:<rowid>`` (writes are serialised, so rowids
commit in order)."""

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


def _row(r: Any) -> StoredRecord:
    """Return the record of a row with site, key, kind, created_at, received_at and body."""
    return StoredRecord(
        r["site"], r["key"], r["kind"], r["created_at"], r["received_at"], json.loads(r["body"])
    )


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


@dataclass(frozen=True, slots=True)
class Window:
    """Records stored after one export cursor and the cursor to pass next time."""

    records: list[StoredRecord]
    cursor: str


class RecordStore(Protocol):
    """What the receiver, the export and the status read and write; safe across threads."""

    directory: Path

    @property
    def where(self) -> str:
        """Return where the records are (a path, or the database URL without its password)."""
        ...

    def store(self, site: str, records: list[WireRecord], via: str) -> Ack:
        """Store a batch once per (site, key) in one transaction; return new and known counts."""
        ...

    def keep_raw(self, site: str, body: bytes) -> Path:
        """Write one accepted, token-masked body under raw/<site>/ and return its path."""
        ...

    def dead_letter(self, site: str, via: str, reason: str, detail: str, body: bytes) -> None:
        """Keep a refused body (its start) with the reason; drop the oldest over the limit."""
        ...

    def dead_letters(self) -> list[DeadLetter]:
        """Return the dead letters kept, oldest first."""
        ...

    def dead_letter_count(self) -> int:
        """Return how many dead letters are kept."""
        ...

    def records(self, kind: str | None = None, site: str | None = None) -> Iterator[StoredRecord]:
        """Yield stored records (optionally of one kind and site) in the order received."""
        ...

    def since(self, cursor: str | None, kind: str | None = None) -> Window:
        """Return the records stored after ``cursor`` (None: all) and the next cursor."""
        ...

    def counts(self) -> dict[str, dict[str, int]]:
        """Return records per site and kind, and receipts (deliveries, duplicates included)."""
        ...

    def schema_version(self) -> int:
        """Return the highest migration applied."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def parse_cursor(cursor: str | None, expected: str) -> int:
    """Return the number in an export cursor ``<expected>:<n>``; SyncError if it is not one."""
    if cursor is None:
        return 0
    prefix, _, number = cursor.partition(":")
    if prefix != expected or not number.isdigit():
        raise SyncError(
            f"export cursor '{cursor}' is not one of this store (expected '{expected}:<n>', "
            "as the last export's manifest wrote it)"
        )
    return int(number)


def open_store(settings: CloudSettings, directory: Path) -> RecordStore:
    """Return the store the settings name: PostgreSQL with cloud.database_url, else SQLite."""
    url = settings.database_url
    if url is not None and url.get_secret_value().strip():
        from assistant.cloud.postgres import PostgresStore

        return PostgresStore(
            url.get_secret_value(), directory, dead_letter_max=settings.dead_letter_max
        )
    return CloudStore(directory, dead_letter_max=settings.dead_letter_max)


class CloudStore:
    """The SQLite store: the receiver's records, per site; safe to share between threads."""

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
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise SyncError(f"cannot open the cloud store {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                " description TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version")}
            for version, description, sql in SQLITE_MIGRATIONS:
                if version in done:
                    continue
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    (version, description, time.time()),
                )
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise

    @property
    def where(self) -> str:
        """Return the store's file."""
        return str(self.path)

    def schema_version(self) -> int:
        """Return the highest migration applied."""
        with self._lock:
            row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def since(self, cursor: str | None, kind: str | None = None) -> Window:
        """Return the records stored after ``cursor`` (None: all) and the next cursor."""
        after = parse_cursor(cursor, SQLITE_CURSOR)
        sql = "SELECT rowid AS seq, * FROM records WHERE rowid > ?"
        params: list[Any] = [after]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        with self._lock:
            last = self._conn.execute("SELECT MAX(rowid) FROM records").fetchone()[0]
            rows = self._conn.execute(sql + " AND rowid <= ? ORDER BY rowid", [*params, last or 0])
            found = [_row(r) for r in rows.fetchall()]
        return Window(found, f"{SQLITE_CURSOR}:{max(after, int(last or 0))}")

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
            yield _row(r)

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
