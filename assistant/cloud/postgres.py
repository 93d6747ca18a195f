"""The PostgreSQL store (psycopg 3): many ``cloud serve`` processes against one database.

Exactly once per (site, key) is the database's doing: ``records`` has that primary key and a
batch goes in with one ``INSERT ... ON CONFLICT (site, key) DO NOTHING ... RETURNING key`` in
one transaction, so two receivers given the same record at the same moment store it once (the
second waits for the first's commit, then inserts nothing) and each answers only after its
commit. No process holds a lock of its own.

Every row keeps the id of the transaction that wrote it (``xid8``). An export cursor is
``xid:<n>``, the oldest transaction still running when the export read (the snapshot's
``xmin``): every row of a lower id is committed and was exported, every later one goes with
the next export, so incremental exports miss nothing and repeat nothing, however many
receivers write at once.

The schema is created and upgraded by the numbered :data:`MIGRATIONS`, applied under a
transaction-scoped advisory lock (receivers starting together migrate once) and recorded in
``schema_version``. The URL's password never appears in a message: :attr:`where` and every
error name the database without it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row

from assistant.cloud.store import (
    DEAD_LETTER_BYTES,
    DeadLetter,
    StoredRecord,
    Window,
    _row,
    _text,
    parse_cursor,
)
from assistant.errors import SyncError
from assistant.schema.sync import Ack, WireRecord

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "records once per (site, key), receipts, dead letters",
        """
CREATE TABLE records (
    site TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL,
    xid XID8 NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (site, key)
);
CREATE INDEX records_by_kind ON records (kind, site, received_at);
CREATE TABLE receipts (
    site TEXT NOT NULL,
    key TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    via TEXT NOT NULL
);
CREATE TABLE dead_letters (
    id BIGSERIAL PRIMARY KEY,
    site TEXT NOT NULL,
    via TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    size BIGINT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    body BYTEA NOT NULL
)
""",
    ),
    (
        2,
        "export cursor: records by writing transaction",
        "CREATE INDEX records_by_xid ON records (xid)",
    ),
    (
        3,
        "status: receipts per site",
        "CREATE INDEX receipts_by_site ON receipts (site)",
    ),
]
"""Numbered migrations; append only, never edit one that was released."""

MIGRATION_LOCK = 0x5348_4D43_4C44
"""The advisory lock key migrations run under ("SHMCLD")."""
CURSOR = "xid"


def redact_url(url: str) -> str:
    """Return a database URL with its password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(invalid URL)"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class PostgresStore:
    """The PostgreSQL store; one connection per process, shared by threads under a lock."""

    def __init__(self, url: str, directory: Path, *, dead_letter_max: int = 10_000) -> None:
        self.directory = directory
        self.dead_letter_max = dead_letter_max
        self._url = url
        self._password = urlsplit(url).password or ""
        self._lock = threading.Lock()
        self._raw_seq = 0
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        with self._lock:
            self._connection()
            self._migrate()

    # -- connection and schema ---------------------------------------------------------------

    @property
    def where(self) -> str:
        """Return the database URL without its password."""
        return redact_url(self._url)

    def _error(self, doing: str, exc: Exception) -> SyncError:
        message = str(exc).strip()
        if self._password:
            message = message.replace(self._password, "***")
        return SyncError(f"cloud store {doing} failed ({self.where}): {message}")

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        """Return the open connection, connecting (again) when there is none or it broke."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        try:
            self._conn = psycopg.connect(
                self._url, row_factory=dict_row, autocommit=True, connect_timeout=10
            )
        except psycopg.Error as exc:
            raise self._error("connection", exc) from exc
        return self._conn

    def _migrate(self) -> None:
        conn = self._connection()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                    " description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
                )
                done = {r["version"] for r in conn.execute("SELECT version FROM schema_version")}
                for version, description, sql in MIGRATIONS:
                    if version in done:
                        continue
                    for statement in sql.split(";"):
                        if statement.strip():
                            conn.execute(statement.encode())
                    conn.execute(
                        "INSERT INTO schema_version VALUES (%s, %s, %s)",
                        (version, description, time.time()),
                    )
        except psycopg.Error as exc:
            raise self._error("migration", exc) from exc

    def schema_version(self) -> int:
        """Return the highest migration applied."""
        rows = self._query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version", ())
        return int(rows[0]["v"])

    def _query(self, sql: str, params: Any) -> list[dict[str, Any]]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    return conn.execute(sql.encode(), params).fetchall()
            except psycopg.Error as exc:
                raise self._error("read", exc) from exc

    # -- writes --------------------------------------------------------------------------------

    def store(self, site: str, records: list[WireRecord], via: str) -> Ack:
        """Store a batch once per (site, key) in one transaction; return new and known counts."""
        now = time.time()
        keys = [r.key for r in records]
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    inserted = conn.execute(
                        "INSERT INTO records (site, key, kind, created_at, received_at, body)"
                        " SELECT %s, k, kd, c, %s, b"
                        " FROM unnest(%s::text[], %s::text[], %s::float8[], %s::text[])"
                        " AS t(k, kd, c, b)"
                        " ON CONFLICT (site, key) DO NOTHING RETURNING key",
                        (
                            site,
                            now,
                            keys,
                            [r.kind for r in records],
                            [r.created_at for r in records],
                            [json.dumps(r.body, ensure_ascii=False) for r in records],
                        ),
                    ).fetchall()
                    conn.execute(
                        "INSERT INTO receipts (site, key, received_at, via)"
                        " SELECT %s, k, %s, %s FROM unnest(%s::text[]) AS t(k)",
                        (site, now, via, keys),
                    )
            except psycopg.Error as exc:
                raise self._error("write", exc) from exc
        accepted = len(inserted)
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
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO dead_letters"
                        " (site, via, reason, detail, size, received_at, body)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        (*(v.replace("\x00", "?") if isinstance(v, str) else v for v in row),
                         body[:DEAD_LETTER_BYTES]),
                    )  # fmt: skip
                    conn.execute(
                        "DELETE FROM dead_letters"
                        " WHERE id <= (SELECT MAX(id) FROM dead_letters) - %s",
                        (self.dead_letter_max,),
                    )
            except psycopg.Error as exc:
                raise self._error("write", exc) from exc

    # -- reads ---------------------------------------------------------------------------------

    def dead_letters(self) -> list[DeadLetter]:
        """Return the dead letters kept, oldest first."""
        rows = self._query("SELECT * FROM dead_letters ORDER BY id", ())
        return [DeadLetter(**{**r, "body": bytes(r["body"])}) for r in rows]

    def dead_letter_count(self) -> int:
        """Return how many dead letters are kept."""
        return int(self._query("SELECT COUNT(*) AS n FROM dead_letters", ())[0]["n"])

    def records(self, kind: str | None = None, site: str | None = None) -> Iterator[StoredRecord]:
        """Yield stored records (optionally of one kind and site) in the order received."""
        rows = self._query(
            "SELECT site, key, kind, created_at, received_at, body FROM records"
            " WHERE (%(kind)s::text IS NULL OR kind = %(kind)s)"
            " AND (%(site)s::text IS NULL OR site = %(site)s)"
            " ORDER BY received_at, site, key",
            {"kind": kind, "site": site},
        )
        for r in rows:
            yield _row(r)

    def since(self, cursor: str | None, kind: str | None = None) -> Window:
        """Return the records written by transactions after ``cursor`` and the next cursor."""
        after = parse_cursor(cursor, CURSOR)
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    head = conn.execute(
                        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin"
                    ).fetchone()
                    assert head is not None
                    upto = int(head["xmin"])
                    rows = conn.execute(
                        "SELECT site, key, kind, created_at, received_at, body FROM records"
                        " WHERE xid >= %(after)s::text::xid8 AND xid < %(upto)s::text::xid8"
                        " AND (%(kind)s::text IS NULL OR kind = %(kind)s)"
                        " ORDER BY xid, received_at, site, key",
                        {"after": str(after), "upto": str(upto), "kind": kind},
                    ).fetchall()
            except psycopg.Error as exc:
                raise self._error("read", exc) from exc
        return Window([_row(r) for r in rows], f"{CURSOR}:{max(after, upto)}")

    def counts(self) -> dict[str, dict[str, int]]:
        """Return records per site and kind, and receipts (deliveries, duplicates included)."""
        stored = self._query(
            "SELECT site, kind, COUNT(*) AS n FROM records GROUP BY site, kind", ()
        )
        receipts = self._query("SELECT site, COUNT(*) AS n FROM receipts GROUP BY site", ())
        out: dict[str, dict[str, int]] = {}
        for r in stored:
            out.setdefault(r["site"], {})[r["kind"]] = int(r["n"])
        for r in receipts:
            out.setdefault(r["site"], {})["receipts"] = int(r["n"])
        return out

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
