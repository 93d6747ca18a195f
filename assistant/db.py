"""The SQLite journal file: one connection, WAL, and numbered migrations applied in order."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from assistant.errors import JournalError, ShiftmateError
from assistant.migrations import MIGRATIONS


class Database:
    """A thread-safe SQLite connection (WAL), migrated to its latest schema on open.

    The journal uses the default migrations; other stores (the sync outbox) pass their own
    numbered schema, the error class their failures are raised as, and a name for messages.
    """

    def __init__(
        self,
        path: Path,
        *,
        migrations: Sequence[tuple[int, str, str]] = MIGRATIONS,
        error: type[ShiftmateError] = JournalError,
        name: str = "journal",
        busy_timeout_s: float = 5.0,
    ) -> None:
        self.path = path
        self._migrations = migrations
        self._error = error
        self._name = name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives any process crash; an OS crash or power cut may lose
            # the last commits (FULL would fsync every commit).
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        except (sqlite3.Error, OSError) as exc:
            raise error(f"cannot open the {name} {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._migrate()

    @property
    def schema_version(self) -> int:
        """Return the number of the last migration applied."""
        row = self.query_one("PRAGMA user_version")
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        current = self.schema_version
        latest = self._migrations[-1][0] if self._migrations else 0
        if current > latest:
            raise self._error(
                f"the {self._name} {self.path} has schema version {current}, newer than this "
                f"Shiftmate understands ({latest}); upgrade Shiftmate"
            )
        for number, _title, script in self._migrations:
            if number <= current:
                continue
            with self.transaction() as conn:
                # Another process opening the same new file may have applied it meanwhile:
                # the version is read again under the write lock that BEGIN IMMEDIATE holds.
                if int(conn.execute("PRAGMA user_version").fetchone()[0]) >= number:
                    continue
                for statement in script.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements atomically: commit on success, roll back on any error."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise self._error(f"{self._name} write failed ({self.path}): {exc}") from exc
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Return all rows of a read query."""
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise self._error(f"{self._name} read failed ({self.path}): {exc}") from exc

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Return the first row of a read query, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
