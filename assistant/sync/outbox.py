"""The durable outbox: a SQLite file of its own (WAL) holding redacted records until delivered.

Each record has an idempotency key (unique here and at the receiver), a kind, a priority
(lower goes first: feedback 0, summaries 1) and its body as redacted JSON text. The file has
its own numbered schema (``PRAGMA user_version``), separate from the journal's migrations.

Delivery is at least once from here (a record leaves the outbox only after the receiver
acknowledged it) and exactly once at the receiver (it de-duplicates by key), so a crash at any
point loses nothing and duplicates nothing.

Quarantine: a record the receiver refused for good (HTTP 400, 403 or 413, or its refusal
over MQTT) moves, with the reason, from ``records`` to ``quarantine`` instead of blocking the
outbox; ``sync status`` shows how many and why. It is never sent again on its own.

Retention: ``sync.max_records`` and ``sync.max_bytes`` bound the backlog. Over a limit the
``sync.overflow`` policy applies and is counted, never silent: ``drop_oldest`` deletes the
oldest records of the lowest priority (summaries before feedback) and counts them in
``dropped``; ``reject_new`` refuses the new record and counts it in ``rejected``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from assistant.db import Database
from assistant.errors import SyncError

SCHEMA: list[tuple[int, str, str]] = [
    (
        1,
        "records with idempotency keys, collection state, counters, summarised conversations",
        """
CREATE TABLE records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX records_in_order ON records(priority, id);
CREATE TABLE state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE summarised (
    conversation_id TEXT PRIMARY KEY,
    last_turn_id INTEGER NOT NULL,
    at REAL NOT NULL
)
""",
    ),
    (
        2,
        "quarantine of records the receiver refused for good, with the reason",
        """
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    quarantined_at REAL NOT NULL
);
CREATE INDEX quarantine_by_reason ON quarantine(reason)
""",
    ),
]

RECENT_QUARANTINED = 5
"""How many of the latest quarantined records the status lists."""

PRIORITY = {"feedback": 0, "summary": 1}
"""Lower is sent first: feedback before summaries."""

Overflow = Literal["drop_oldest", "reject_new"]


@dataclass(frozen=True, slots=True)
class Item:
    """A record to queue: its idempotency key, kind and (already redacted) body."""

    key: str
    kind: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Queued:
    """A record in the outbox, as handed to a transport."""

    id: int
    key: str
    kind: str
    body: str
    size: int
    created_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class PutResult:
    """What one put did: records added, already known keys, refused and dropped by overflow."""

    added: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """The backlog and the uplink's health, for ``sync status``, the API and the TUI."""

    offline: bool
    backlog: int
    bytes: int
    by_kind: dict[str, int]
    oldest_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None
    next_attempt_at: float | None
    failures: int
    sent: int
    dropped: int
    rejected: int
    redacted: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    quarantine_recent: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the status as a JSON-ready dict."""
        return asdict(self)


class Outbox:
    """The outbox file; safe to share between threads and between processes (WAL)."""

    def __init__(
        self,
        path: Path,
        *,
        max_records: int = 100_000,
        max_bytes: int = 256_000_000,
        overflow: Overflow = "drop_oldest",
        offline: bool = False,
    ) -> None:
        self.path = path
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.overflow: Overflow = overflow
        self.offline = offline
        # NORMAL in WAL mode (Database) survives any process crash; an OS crash or power cut
        # may lose the last commits, which costs nothing but a resend: a lost put rolls back
        # with its collection cursor (same transaction), a lost ack makes a duplicate that the
        # receiver drops. FULL would fsync on every batch (a quarter of the drain rate).
        self._db = Database(
            path, migrations=SCHEMA, error=SyncError, name="outbox", busy_timeout_s=30.0
        )

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.transaction()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._db.query(sql, params)

    # -- queueing ----------------------------------------------------------------------------

    def put(
        self,
        items: Sequence[Item],
        *,
        state: Mapping[str, str] | None = None,
        summarised: Sequence[tuple[str, int]] = (),
    ) -> PutResult:
        """Queue records (known keys are skipped) and record collection state, atomically.

        ``state`` (e.g. the feedback cursor) and ``summarised`` (conversation id, last turn
        summarised) are written in the same transaction, so a crash never loses a record nor
        queues one twice.
        """
        added = duplicates = rejected = dropped = 0
        now = time.time()
        with self._transaction() as conn:
            for item in items:
                body = json.dumps(item.body, ensure_ascii=False, separators=(",", ":"))
                size = len(body.encode("utf-8"))
                if conn.execute(
                    "SELECT 1 FROM records WHERE key = ? UNION ALL"
                    " SELECT 1 FROM quarantine WHERE key = ?",
                    (item.key, item.key),
                ).fetchone():
                    duplicates += 1
                    continue
                if self.overflow == "reject_new" and self._would_overflow(conn, size):
                    rejected += 1
                    self._count(conn, "rejected", 1)
                    self._count(conn, f"rejected_{item.kind}", 1)
                    continue
                conn.execute(
                    "INSERT INTO records (key, kind, priority, body, size, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (item.key, item.kind, PRIORITY.get(item.kind, 9), body, size, now),
                )
                added += 1
                if self.overflow == "drop_oldest":
                    dropped += self._drop_overflow(conn)
            for name, value in (state or {}).items():
                conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (name, value))
            for conversation_id, last_turn in summarised:
                conn.execute(
                    "INSERT OR REPLACE INTO summarised VALUES (?, ?, ?)",
                    (conversation_id, last_turn, now),
                )
            if added:
                self._count(conn, "queued", added)
        return PutResult(added, duplicates, rejected, dropped)

    def _totals(self, conn: sqlite3.Connection) -> tuple[int, int]:
        row = conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM records").fetchone()
        return int(row[0]), int(row[1])

    def _would_overflow(self, conn: sqlite3.Connection, size: int) -> bool:
        count, total = self._totals(conn)
        return count + 1 > self.max_records or total + size > self.max_bytes

    def _drop_overflow(self, conn: sqlite3.Connection) -> int:
        dropped = 0
        count, total = self._totals(conn)
        while count > self.max_records or total > self.max_bytes:
            row = conn.execute(
                "SELECT id, kind, size FROM records ORDER BY priority DESC, id LIMIT 1"
            ).fetchone()
            if row is None:
                break
            conn.execute("DELETE FROM records WHERE id = ?", (row["id"],))
            self._count(conn, "dropped", 1)
            self._count(conn, f"dropped_{row['kind']}", 1)
            dropped += 1
            count, total = count - 1, total - int(row["size"])
        return dropped

    @staticmethod
    def _count(conn: sqlite3.Connection, name: str, n: int) -> None:
        conn.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, n, n),
        )

    # -- collection state --------------------------------------------------------------------

    def get_state(self, name: str) -> str | None:
        """Return a stored state value (cursors, last success, ...), or None."""
        rows = self._query("SELECT value FROM state WHERE name = ?", (name,))
        return str(rows[0]["value"]) if rows else None

    def summarised_turn(self, conversation_id: str) -> int:
        """Return the last turn id of a conversation already summarised (0 if none)."""
        rows = self._query(
            "SELECT last_turn_id FROM summarised WHERE conversation_id = ?", (conversation_id,)
        )
        return int(rows[0]["last_turn_id"]) if rows else 0

    # -- delivery ----------------------------------------------------------------------------

    def batch(self, max_records: int, max_bytes: int) -> list[Queued]:
        """Return the next records to send in priority order, within the limits (at least one)."""
        rows = self._query(
            "SELECT id, key, kind, body, size, created_at, attempts FROM records"
            " ORDER BY priority, id LIMIT ?",
            (max_records,),
        )
        out: list[Queued] = []
        total = 0
        for row in rows:
            if out and total + int(row["size"]) > max_bytes:
                break
            total += int(row["size"])
            out.append(Queued(**dict(row)))
        return out

    def ack(self, ids: Sequence[int]) -> None:
        """Remove delivered records and note the success."""
        now = time.time()
        with self._transaction() as conn:
            conn.executemany("DELETE FROM records WHERE id = ?", [(i,) for i in ids])
            self._count(conn, "sent", len(ids))
            conn.execute("INSERT OR REPLACE INTO state VALUES ('last_success_at', ?)", (now,))
            conn.execute("INSERT OR REPLACE INTO state VALUES ('failures', '0')")
            conn.execute("DELETE FROM state WHERE name = 'next_attempt_at'")

    def fail(self, ids: Sequence[int], error: str, next_attempt_at: float) -> int:
        """Note a failed delivery (the records stay) and return the consecutive failures."""
        now = time.time()
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE records SET attempts = attempts + 1 WHERE id = ?", [(i,) for i in ids]
            )
            row = conn.execute("SELECT value FROM state WHERE name = 'failures'").fetchone()
            failures = int(row[0]) + 1 if row else 1
            for name, value in (
                ("last_error", error),
                ("last_error_at", str(now)),
                ("failures", str(failures)),
                ("next_attempt_at", str(next_attempt_at)),
            ):
                conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (name, value))
            self._count(conn, "failed_attempts", 1)
        return failures

    def quarantine(self, ids: Sequence[int], *, status: int, reason: str, detail: str) -> int:
        """Move refused records to the quarantine with the reason; return how many moved.

        A refusal is an answer, not a failure of the link: the failure streak and the backoff
        are cleared, so that the next records go at once.
        """
        now = time.time()
        moved = 0
        with self._transaction() as conn:
            for record_id in ids:
                row = conn.execute(
                    "SELECT id, key, kind, body, size, created_at, attempts FROM records"
                    " WHERE id = ?",
                    (record_id,),
                ).fetchone()
                if row is None:
                    continue
                conn.execute(
                    "INSERT OR REPLACE INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*tuple(row)[:6], int(row["attempts"]) + 1, status, reason, detail, now),
                )
                conn.execute("DELETE FROM records WHERE id = ?", (record_id,))
                self._count(conn, "quarantined", 1)
                self._count(conn, f"quarantined_{row['kind']}", 1)
                moved += 1
            conn.execute("INSERT OR REPLACE INTO state VALUES ('failures', '0')")
            conn.execute("DELETE FROM state WHERE name = 'next_attempt_at'")
        return moved

    def requeue(self, keys: Sequence[str] | None = None) -> list[str]:
        """Move quarantined records back to the queue (all when ``keys`` is None); return the
        keys moved, in quarantine order. An unknown key raises SyncError and moves nothing.

        For a refusal that was fixed at the receiver (a token, a size limit): the record keeps
        its key, so the receiver still de-duplicates it.
        """
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT id, key, kind, body, size, created_at FROM quarantine"
                " ORDER BY quarantined_at, id"
            ).fetchall()
            if keys is not None:
                held = {row["key"] for row in rows}
                unknown = [key for key in keys if key not in held]
                if unknown:
                    raise SyncError(f"not in the quarantine: {', '.join(unknown)}")
                wanted = set(keys)
                rows = [row for row in rows if row["key"] in wanted]
            for row in rows:
                conn.execute(
                    "INSERT INTO records (key, kind, priority, body, size, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        row["key"],
                        row["kind"],
                        PRIORITY.get(row["kind"], 9),
                        row["body"],
                        row["size"],
                        row["created_at"],
                    ),
                )
                conn.execute("DELETE FROM quarantine WHERE id = ?", (row["id"],))
            if rows:
                self._count(conn, "requeued", len(rows))
        return [row["key"] for row in rows]

    def quarantined(self) -> list[dict[str, Any]]:
        """Return the quarantined records (key, kind, status, reason, detail, when), oldest
        first."""
        rows = self._query(
            "SELECT key, kind, status, reason, detail, quarantined_at FROM quarantine"
            " ORDER BY quarantined_at, id"
        )
        return [dict(r) for r in rows]

    def failures(self) -> int:
        """Return the number of consecutive failed deliveries."""
        return int(self.get_state("failures") or 0)

    def count_redactions(self, counts: Mapping[str, int]) -> None:
        """Add the counts of a redaction report to the outbox's totals."""
        with self._transaction() as conn:
            for kind, n in counts.items():
                if n:
                    self._count(conn, f"redacted_{kind}", n)

    # -- status ------------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """Return every counter (queued, sent, dropped, rejected, redacted_<kind>, ...)."""
        return {r["name"]: int(r["value"]) for r in self._query("SELECT * FROM counters")}

    def keys(self) -> list[str]:
        """Return the keys of the records waiting, in sending order."""
        return [r["key"] for r in self._query("SELECT key FROM records ORDER BY priority, id")]

    def status(self) -> OutboxStatus:
        """Return the backlog (count, bytes, oldest, per kind) and the last success and error."""
        rows = self._query(
            "SELECT kind, COUNT(*) AS n, COALESCE(SUM(size), 0) AS b, MIN(created_at) AS o"
            " FROM records GROUP BY kind"
        )
        state = {r["name"]: r["value"] for r in self._query("SELECT * FROM state")}
        counters = self.counters()

        def number(name: str) -> float | None:
            value = state.get(name)
            return float(value) if value is not None else None

        reasons = {
            str(r["reason"]): int(r["n"])
            for r in self._query("SELECT reason, COUNT(*) AS n FROM quarantine GROUP BY reason")
        }
        recent = [
            dict(r)
            for r in self._query(
                "SELECT key, kind, status, reason, detail, quarantined_at FROM quarantine"
                " ORDER BY quarantined_at DESC, id DESC LIMIT ?",
                (RECENT_QUARANTINED,),
            )
        ]
        oldest = [float(r["o"]) for r in rows if r["o"] is not None]
        return OutboxStatus(
            offline=self.offline,
            backlog=sum(int(r["n"]) for r in rows),
            bytes=sum(int(r["b"]) for r in rows),
            by_kind={r["kind"]: int(r["n"]) for r in rows},
            oldest_at=min(oldest) if oldest else None,
            last_success_at=number("last_success_at"),
            last_error=state.get("last_error"),
            last_error_at=number("last_error_at"),
            next_attempt_at=number("next_attempt_at"),
            failures=int(state.get("failures") or 0),
            sent=counters.get("sent", 0),
            dropped=counters.get("dropped", 0),
            rejected=counters.get("rejected", 0),
            redacted={
                name.removeprefix("redacted_"): n
                for name, n in counters.items()
                if name.startswith("redacted_")
            },
            quarantined=sum(reasons.values()),
            quarantine_reasons=reasons,
            quarantine_recent=recent,
        )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
