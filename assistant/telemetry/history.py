"""Alarm history: every limit, stale and anomaly event, raised or cleared, kept in the journal.

One row per :class:`TelemetryEvent` in the ``telemetry_events`` table (migration 3). Recording
is idempotent on the event id, so a sink that is retried does not duplicate history.
"""

from __future__ import annotations

import json
import sqlite3

from assistant.clock import now_iso
from assistant.db import Database
from assistant.domain import TelemetryEvent

_COLUMNS = "id, asset, tag, kind, level, state, ts, value, message, tag_values"


class AlarmHistory:
    """Reads and writes the telemetry event history in the SQLite journal."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, event: TelemetryEvent) -> None:
        """Store one event; an event id already stored is left as it is."""
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT OR IGNORE INTO telemetry_events ({_COLUMNS}, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.id,
                    event.asset,
                    event.tag,
                    event.kind,
                    event.level,
                    event.state,
                    event.ts,
                    event.value,
                    event.message,
                    json.dumps([[tag, value] for tag, value in event.values]),
                    now_iso(),
                ),
            )

    def recent(self, limit: int = 100, asset: str | None = None) -> list[TelemetryEvent]:
        """Return the newest events first, optionally of one asset (case-insensitive)."""
        if asset is None:
            rows = self.db.query(
                f"SELECT {_COLUMNS} FROM telemetry_events ORDER BY ts DESC, rowid DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self.db.query(
                f"SELECT {_COLUMNS} FROM telemetry_events WHERE asset = ? COLLATE NOCASE "
                "ORDER BY ts DESC, rowid DESC LIMIT ?",
                (asset, limit),
            )
        return [_event(row) for row in rows]

    def open_events(self) -> list[TelemetryEvent]:
        """Return the events still raised: the newest of each asset, tag, kind and level.

        After a crash these are the alarms the journal shows as raised, to be reconciled with
        the restored telemetry.
        """
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS}, ROW_NUMBER() OVER (PARTITION BY "
            "asset, tag, kind, level ORDER BY rowid DESC) AS newest FROM telemetry_events) "
            "WHERE newest = 1 AND state = 'raised' ORDER BY ts"
        )
        return [_event(row) for row in rows]

    def get(self, event_id: str) -> TelemetryEvent | None:
        """Return one event by id, or None."""
        row = self.db.query_one(
            f"SELECT {_COLUMNS} FROM telemetry_events WHERE id = ?", (event_id,)
        )
        return _event(row) if row is not None else None


def _event(row: sqlite3.Row) -> TelemetryEvent:
    """Rebuild an event from its row."""
    return TelemetryEvent(
        id=row["id"],
        asset=row["asset"],
        tag=row["tag"],
        kind=row["kind"],
        level=row["level"],
        state=row["state"],
        ts=float(row["ts"]),
        value=None if row["value"] is None else float(row["value"]),
        message=row["message"],
        values=tuple((str(tag), float(value)) for tag, value in json.loads(row["tag_values"])),
    )
