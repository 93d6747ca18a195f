"""Alarm acknowledgements: who acknowledged which raised event, when, and through what.

One row per acknowledged event in the ``alarm_acks`` table (migration 9), beside the event's
row in the alarm history. The TUI, the CLI and the API all record through
:class:`AlarmAcks`, so each of them sees the acknowledgements the others made, also after a
restart. Acknowledging is idempotent: a second acknowledgement of the same event leaves the
first record as it is and returns it (``created`` False), so a retried request is harmless.
Only a raised event is an alarm to acknowledge; its clear is not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from assistant.clock import now_iso
from assistant.db import Database
from assistant.errors import TelemetryError
from assistant.telemetry.history import AlarmHistory

Via = Literal["tui", "cli", "api"]
VIAS: tuple[str, ...] = get_args(Via)
MAX_NAME = 80
_COLUMNS = "event_id, by_name, via, key_id, key_name, at"
_MAX_IDS_PER_QUERY = 500


class UnknownAlarmError(TelemetryError):
    """No event with this id is recorded in the alarm history."""


class AckError(TelemetryError):
    """The acknowledgement cannot be recorded as asked (a clear, or no valid name)."""


@dataclass(frozen=True, slots=True)
class AlarmAck:
    """One acknowledgement of one raised event, as recorded in the journal."""

    event_id: str
    by: str
    at: str
    """UTC, ISO 8601, to the second."""
    via: Via
    key_id: str | None = None
    """The API key it came with (``via`` "api"), else None."""
    key_name: str | None = None

    @property
    def ts(self) -> float:
        """Return when it was acknowledged, in seconds since the epoch."""
        return datetime.fromisoformat(self.at).timestamp()


@dataclass(frozen=True, slots=True)
class AckResult:
    """The acknowledgement of an event, and whether this call recorded it."""

    ack: AlarmAck
    created: bool


def clean_name(by: str) -> str:
    """Return who acknowledges, stripped; AckError when empty or too long."""
    name = by.strip()
    if not name:
        raise AckError("an acknowledgement needs the operator's name (--by NAME)")
    if len(name) > MAX_NAME:
        raise AckError(f"the operator's name is {len(name)} characters; the limit is {MAX_NAME}")
    return name


class AlarmAcks:
    """Records and reads alarm acknowledgements in the SQLite journal."""

    def __init__(self, db: Database, history: AlarmHistory) -> None:
        self.db = db
        self.history = history

    def acknowledge(
        self,
        event_id: str,
        by: str,
        *,
        via: Via,
        key_id: str | None = None,
        key_name: str | None = None,
    ) -> AckResult:
        """Record that ``by`` acknowledged a raised event; an acknowledged one keeps its record.

        UnknownAlarmError when no such event is recorded, AckError for a clear or a bad name.
        """
        name = clean_name(by)
        if via not in VIAS:
            raise AckError(f"via must be one of {', '.join(VIAS)}, not {via!r}")
        event = self.history.get(event_id)
        if event is None:
            raise UnknownAlarmError(
                f"no alarm event {event_id!r} is recorded; 'shiftmate alarms list' shows the ids"
            )
        if event.state != "raised":
            raise AckError(
                f"event {event_id} is the clear of {event.asset} {event.tag or event.kind} "
                f"{event.level}, not an alarm; acknowledge the event that raised it"
            )
        with self.db.transaction() as conn:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO alarm_acks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (event_id, name, via, key_id, key_name, now_iso()),
            )
            created = cursor.rowcount == 1
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM alarm_acks WHERE event_id = ?", (event_id,)
            ).fetchone()
        return AckResult(_ack(row), created)

    def get(self, event_id: str) -> AlarmAck | None:
        """Return the acknowledgement of one event, or None when it is not acknowledged."""
        row = self.db.query_one(
            f"SELECT {_COLUMNS} FROM alarm_acks WHERE event_id = ?", (event_id,)
        )
        return _ack(row) if row is not None else None

    def for_events(self, event_ids: Collection[str]) -> dict[str, AlarmAck]:
        """Return the acknowledgements of those of these events that are acknowledged."""
        ids = list(dict.fromkeys(event_ids))
        found: dict[str, AlarmAck] = {}
        for start in range(0, len(ids), _MAX_IDS_PER_QUERY):
            chunk = ids[start : start + _MAX_IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            rows = self.db.query(
                f"SELECT {_COLUMNS} FROM alarm_acks WHERE event_id IN ({marks})", chunk
            )
            found.update((row["event_id"], _ack(row)) for row in rows)
        return found


def _ack(row: sqlite3.Row) -> AlarmAck:
    """Rebuild an acknowledgement from its row."""
    return AlarmAck(
        event_id=row["event_id"],
        by=row["by_name"],
        at=row["at"],
        via=row["via"],
        key_id=row["key_id"],
        key_name=row["key_name"],
    )
